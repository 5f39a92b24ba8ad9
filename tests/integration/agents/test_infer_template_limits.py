"""Template inference is CPU-bound and its cost grows with how little the prompts share: 300
unrelated 500-word prompts took 25 s, on the API's event loop, stalling every tenant's requests
(one request of a viewer did it). It runs on the scoring threads, within the scoring time limit."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import ingest, llm_trace
from spectral.platform.shared.settings import Settings

pytestmark = pytest.mark.both_backends


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Far below what mining the prompts below takes (seconds), so the limit is what ends it.
    return settings.model_copy(update={"scoring_time_limit_s": 0.2})


async def test_mining_prompts_that_share_little_ends_at_the_scoring_time_limit(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await client.post(f"{tenant.ws}/agents", json={"name": "R", "slug": "r"}, headers=tenant.headers)
    rng = random.Random(5)
    words = [f"w{i}" for i in range(2000)]
    spans: list[dict[str, Any]] = []
    for index in range(60):
        prompt = " ".join(rng.choice(words) for _ in range(800))
        spans.extend(llm_trace("r", prompt, "ok", index=index)[1])
    await ingest(client, tenant, spans)
    viewer = await tenant.member("viewer")

    response = await client.post(
        f"{tenant.ws}/agents/{agent.json()['id']}/infer-template", json={}, headers=viewer
    )
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/scoring-time-limit")
    assert response.headers["retry-after"] == "1"
