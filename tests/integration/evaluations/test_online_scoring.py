"""Online scoring end to end through the API: an agent names an online rubric, its ingested traces
are scored by the job (in-process queue, the embedded default), the trace list's score filters,
detail, from-traces sample sets and the dashboard reflect the scores, and a rubric edit followed
by `rescore` brings them to the new version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import ingest as ingest_spans
from integration.agents.traces_factory import llm_trace
from spectral.engine.scoring.evaluation import score_traces
from spectral.engine.scoring.objective import objective_scales_from
from spectral.engine.types import Objective
from spectral.platform.evaluations.online import (
    RESCORE_JOB,
    SCORE_ONLINE_JOB,
    batch_job_id,
    rescore_rubric,
    sampled,
)
from spectral.platform.evaluations.service import load_rubric
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import DEFAULT_QUEUE, InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.queries import load_engine_traces

pytestmark = pytest.mark.both_backends


class RecordingQueue(InProcessQueue):
    """The real in-process queue, remembering what was asked of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    async def enqueue(self, function: str, job_id: str, *, queue: str = DEFAULT_QUEUE, **kwargs: Any) -> bool:
        self.asked.append((function, job_id, kwargs))
        return await super().enqueue(function, job_id, queue=queue, **kwargs)


@pytest.fixture
async def queue(db: Database, settings: Settings) -> AsyncIterator[RecordingQueue]:
    ctx: dict[str, object] = {"db": db, "settings": settings}
    recording = RecordingQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = recording
    yield recording
    await recording.join()
    await recording.close()


def span(
    trace_id: str, agent: str, output: str, *, error: bool = False, minutes_ago: int = 30
) -> dict[str, Any]:
    start = utcnow() - timedelta(minutes=minutes_ago)
    return {
        "trace_id": trace_id,
        "span_id": uuid.uuid4().hex[:16],
        "name": "chat",
        "kind": "client",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=400)).isoformat(),
        "status": "error" if error else "ok",
        "attributes": {
            "spectral.agent.name": agent,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": [{"role": "user", "content": f"question {trace_id[:6]}"}],
            "gen_ai.output.messages": [{"role": "assistant", "content": output}],
        },
    }


async def ingest(client: httpx.AsyncClient, tenant: Tenant, spans: list[dict[str, Any]]) -> None:
    response = await client.post(f"{tenant.ws}/traces", json={"spans": spans}, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def create_agent(client: httpx.AsyncClient, tenant: Tenant, slug: str) -> str:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": slug, "slug": slug}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_rubric(client: httpx.AsyncClient, tenant: Tenant, name: str = "Online") -> str:
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={
            "name": name,
            "dimensions": [
                {"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1},
                {
                    "key": "polite",
                    "scorer": {"type": "contains", "params": {"value": "thanks"}},
                    "threshold": 1,
                },
            ],
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    return str(response.json()["id"])


async def trace_ids(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> set[str]:
    response = await client.get(
        f"{tenant.ws}/traces", params={"limit": 200, **params}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return {item["trace_id"] for item in response.json()["results"]}


@pytest.fixture
async def scored(client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue) -> dict[str, Any]:
    """support-bot scores online with a two-dimension rubric; four of its traces were ingested."""
    agent_id = await create_agent(client, tenant, "support-bot")
    rubric_id = await create_rubric(client, tenant)
    patched = await client.patch(
        f"{tenant.ws}/agents/{agent_id}",
        json={"online_rubric_id": rubric_id, "online_sample_rate": 1},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["online_rubric_id"] == rubric_id
    assert patched.json()["online_sample_rate"] == 1.0
    ids = {name: uuid.uuid4().hex for name in ("good1", "good2", "broken", "curt")}
    await ingest(
        client,
        tenant,
        [
            span(ids["good1"], "support-bot", "Done, thanks!"),
            span(ids["good2"], "support-bot", "thanks for waiting"),
            span(ids["broken"], "support-bot", "", error=True),
            span(ids["curt"], "support-bot", "No."),
        ],
    )
    await queue.join()
    return {"agent_id": agent_id, "rubric_id": rubric_id, "ids": ids}


async def test_ingest_scores_the_batch_in_one_job_and_filters_see_the_scores(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, scored: dict[str, Any]
) -> None:
    ids = scored["ids"]
    jobs = [asked for asked in queue.asked if asked[0] == SCORE_ONLINE_JOB]
    assert len(jobs) == 1
    assert sorted(jobs[0][2]["trace_ids"]) == sorted(ids.values())

    assert await trace_ids(client, tenant, min_score=1) == {ids["good1"], ids["good2"]}
    assert await trace_ids(client, tenant, max_score=0.5) == {ids["broken"], ids["curt"]}
    assert await trace_ids(client, tenant, max_score=0.25) == {ids["broken"]}

    detail = (await client.get(f"{tenant.ws}/traces/{ids['curt']}", headers=tenant.headers)).json()
    assert detail["score"] == 0.5
    assert detail["scores"]["rubric_id"] == scored["rubric_id"]
    assert detail["scores"]["rubric_version"] == 1
    assert detail["scores"]["failed_dimensions"] == ["polite"]
    assert detail["scores"]["dimensions"]["ok"]["passed"] is True
    listed = (await client.get(f"{tenant.ws}/traces", params={"min_score": 0}, headers=tenant.headers)).json()
    assert sorted(item["score"] for item in listed["results"]) == [0.0, 0.5, 1.0, 1.0]


async def test_a_retried_batch_is_one_job_and_later_spans_of_a_trace_are_another(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, scored: dict[str, Any]
) -> None:
    trace = uuid.uuid4().hex
    first = [span(trace, "support-bot", "thanks")]
    await ingest(client, tenant, first)
    await queue.join()
    await ingest(client, tenant, first)
    await queue.join()
    ids = [job_id for function, job_id, _ in queue.asked if function == SCORE_ONLINE_JOB]
    # Both requests asked for the same job id; the queue ran it once.
    assert len(ids) == 3
    assert ids[1] == ids[2]
    assert ids[1] == batch_job_id(tenant.workspace_id, [trace], [first[0]["span_id"]])
    await ingest(client, tenant, [span(trace, "support-bot", "thanks")])
    await queue.join()
    later = [job_id for function, job_id, _ in queue.asked if function == SCORE_ONLINE_JOB]
    assert len(later) == 4
    assert later[3] != later[2]


async def test_traces_of_agents_without_an_online_rubric_enqueue_nothing(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, scored: dict[str, Any]
) -> None:
    before = len(queue.asked)
    await create_agent(client, tenant, "quiet-bot")
    await ingest(client, tenant, [span(uuid.uuid4().hex, "quiet-bot", "thanks")])
    await queue.join()
    assert len(queue.asked) == before


async def test_sampling_is_deterministic_by_trace_id(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue
) -> None:
    agent_id = await create_agent(client, tenant, "sampled-bot")
    rubric_id = await create_rubric(client, tenant, "Sampled")
    response = await client.patch(
        f"{tenant.ws}/agents/{agent_id}",
        json={"online_rubric_id": rubric_id, "online_sample_rate": 0.5},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    ids = [uuid.uuid4().hex for _ in range(40)]
    await ingest(client, tenant, [span(t, "sampled-bot", "thanks") for t in ids])
    await queue.join()
    expected = {t for t in ids if sampled(t, 0.5)}
    assert 0 < len(expected) < len(ids)
    assert await trace_ids(client, tenant, min_score=0) == expected


async def test_sample_sets_from_traces_select_by_score_and_feedback(
    client: httpx.AsyncClient, tenant: Tenant, scored: dict[str, Any]
) -> None:
    ids = scored["ids"]
    feedback = await client.post(
        f"{tenant.ws}/traces/{ids['curt']}/feedback",
        json={"kind": "thumbs", "value": "down"},
        headers=tenant.headers,
    )
    assert feedback.status_code == 201, feedback.text
    low = await client.post(
        f"{tenant.ws}/samples/from-traces",
        json={"name": "Disliked answers", "filter": {"agent": "support-bot", "max_score": 0.5}},
        headers=tenant.headers,
    )
    assert low.status_code == 201, low.text
    assert low.json()["added"] == 2
    disliked = await client.post(
        f"{tenant.ws}/samples/from-traces",
        json={"name": "Low and flagged", "filter": {"max_score": 0.5, "has_feedback": True}},
        headers=tenant.headers,
    )
    assert disliked.status_code == 201, disliked.text
    assert disliked.json()["added"] == 1


async def test_rescore_after_a_rubric_edit_moves_scores_to_the_new_version(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, scored: dict[str, Any]
) -> None:
    ids, rubric_id = scored["ids"], scored["rubric_id"]
    url = f"{tenant.ws}/evaluations/rubrics/{rubric_id}"
    edited = await client.patch(
        url,
        json={"dimensions": [{"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1}]},
        headers=tenant.headers,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    renamed = await client.patch(url, json={"name": "Online v2"}, headers=tenant.headers)
    assert renamed.json()["version"] == 2

    started = await client.post(f"{url}/rescore", headers=tenant.headers)
    assert started.status_code == 202, started.text
    assert (
        started.headers["location"]
        == f"/api/v1/workspaces/{tenant.workspace_id}/evaluations/rubrics/{rubric_id}/scores"
    )
    body = started.json()
    assert body["rubric_version"] == 2
    assert body["status"] == "queued"
    assert body["agent_ids"] == [scored["agent_id"]]
    await queue.join()

    assert await trace_ids(client, tenant, min_score=1) == {ids["good1"], ids["good2"], ids["curt"]}
    detail = (await client.get(f"{tenant.ws}/traces/{ids['curt']}", headers=tenant.headers)).json()
    assert detail["scores"]["rubric_version"] == 2
    assert set(detail["scores"]["dimensions"]) == {"ok"}
    progress = (await client.get(started.headers["location"], headers=tenant.headers)).json()
    assert progress == {
        "rubric_id": rubric_id,
        "rubric_version": 2,
        "traces_scored": 4,
        "traces_at_current_version": 4,
        "by_version": {"2": 4},
    }


async def test_asking_for_the_same_rescore_again_enqueues_nothing_more(
    client: httpx.AsyncClient,
    tenant: Tenant,
    queue: RecordingQueue,
    scored: dict[str, Any],
    db: Database,
    settings: Settings,
) -> None:
    """Every request used to enqueue another full pass over the agents' traces on the shared
    long-job queue (a new job id each time). Now a rescore is one job per state of the rubric and
    its agents; a job whose state was superseded stops without scoring anything."""
    url = f"{tenant.ws}/evaluations/rubrics/{scored['rubric_id']}"
    first = await client.post(f"{url}/rescore", headers=tenant.headers)
    await queue.join()
    again = await client.post(f"{url}/rescore", headers=tenant.headers)
    await queue.join()
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["job_id"] == first.json()["job_id"]
    edited = await client.patch(
        url, json={"dimensions": [{"key": "ok", "scorer": {"type": "no_error"}}]}, headers=tenant.headers
    )
    assert edited.status_code == 200, edited.text
    after_edit = await client.post(f"{url}/rescore", headers=tenant.headers)
    assert after_edit.json()["job_id"] != first.json()["job_id"]
    await queue.join()
    keys = {job_id: kwargs["key"] for function, job_id, kwargs in queue.asked if function == RESCORE_JOB}
    assert list(keys) == [first.json()["job_id"], after_edit.json()["job_id"]]

    ctx = {"db": db, "settings": settings}
    args = {"workspace_id": str(tenant.workspace_id), "rubric_id": scored["rubric_id"]}
    assert await rescore_rubric(ctx, **args, key=keys[first.json()["job_id"]]) == 0
    assert await rescore_rubric(ctx, **args, key=keys[after_edit.json()["job_id"]]) == 4


async def test_rescore_of_a_rubric_no_agent_scores_with_is_a_precondition(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue
) -> None:
    rubric_id = await create_rubric(client, tenant)
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}/rescore", headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/business-rule-violation")
    assert queue.asked == []


async def test_online_rubric_of_another_tenant_is_refused_without_a_trace(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id = await create_agent(client, tenant, "support-bot")
    foreign = await create_rubric(client, other_tenant)
    answers = []
    for rubric_id in (foreign, str(uuid.uuid4())):
        response = await client.patch(
            f"{tenant.ws}/agents/{agent_id}",
            json={"online_rubric_id": rubric_id, "name": "renamed"},
            headers=tenant.headers,
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"][0]["loc"] == ["body", "online_rubric_id"]
        answers.append(problem["detail"].replace(rubric_id, "<id>"))
    # A foreign rubric and a missing one get the same answer: nothing tells them apart.
    assert answers[0] == answers[1]
    agent = (await client.get(f"{tenant.ws}/agents/{agent_id}", headers=tenant.headers)).json()
    assert agent["online_rubric_id"] is None
    assert agent["name"] == "support-bot"


async def test_sample_rate_outside_zero_to_one_is_422_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent_id = await create_agent(client, tenant, "support-bot")
    for rate in (1.5, -0.1, None):
        response = await client.patch(
            f"{tenant.ws}/agents/{agent_id}", json={"online_sample_rate": rate}, headers=tenant.headers
        )
        assert response.status_code == 422, response.text
    agent = (await client.get(f"{tenant.ws}/agents/{agent_id}", headers=tenant.headers)).json()
    assert agent["online_sample_rate"] == 1.0


async def test_a_rubric_an_agent_scores_with_cannot_be_deleted(
    client: httpx.AsyncClient, tenant: Tenant, scored: dict[str, Any]
) -> None:
    url = f"{tenant.ws}/evaluations/rubrics/{scored['rubric_id']}"
    response = await client.delete(url, headers=tenant.headers)
    assert response.status_code == 409
    assert (await client.get(url, headers=tenant.headers)).status_code == 200
    cleared = await client.patch(
        f"{tenant.ws}/agents/{scored['agent_id']}", json={"online_rubric_id": None}, headers=tenant.headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["online_rubric_id"] is None
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204


async def test_dashboard_shows_quality_per_agent_by_hour_and_failing_dimensions(
    client: httpx.AsyncClient, tenant: Tenant, scored: dict[str, Any]
) -> None:
    control = (await client.get(f"{tenant.ws}/control-plane", headers=tenant.headers)).json()
    (agent,) = [row for row in control["agents"] if row["slug"] == "support-bot"]
    quality = agent["quality_24h"]
    assert quality["scored_traces"] == 4
    assert quality["mean_quality"] == 0.625
    (bucket,) = quality["hourly"]
    started = utcnow() - timedelta(minutes=30)
    assert bucket["hour"].startswith(started.strftime("%Y-%m-%dT%H:00:00"))
    assert bucket["traces"] == 4
    assert [(d["dimension"], d["failed"], d["scored"]) for d in quality["failing_dimensions"]] == [
        ("polite", 2, 4),
        ("ok", 1, 4),
    ]
    briefing = (await client.get(f"{tenant.ws}/morning-briefing", headers=tenant.headers)).json()
    (brief,) = briefing["quality"]
    assert brief["slug"] == "support-bot"
    assert brief["quality"] == quality
    assert (
        "Online quality of support-bot: 0.62 over 4 scored traces; most failed: polite (2 of 4)."
        in briefing["lines"]
    )


async def test_supervisor_proposes_a_scan_on_a_measured_quality_drop(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, settings: Settings
) -> None:
    agent = await client.post(
        f"{tenant.ws}/agents",
        json={
            "name": "Support bot",
            "slug": "support-bot",
            "config": {"model": "gpt-4o", "templates": {"system": "Hi"}},
        },
        headers=tenant.headers,
    )
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]
    rubric_id = await create_rubric(client, tenant)
    objective = await client.post(
        f"{tenant.ws}/evaluations/objectives",
        json={"name": "Quality", "rubric_id": rubric_id, "weights": {"quality": 1}},
        headers=tenant.headers,
    )
    assert objective.status_code == 201, objective.text
    await client.patch(
        f"{tenant.ws}/agents/{agent_id}", json={"online_rubric_id": rubric_id}, headers=tenant.headers
    )
    n = settings.quality_drop_min_traces
    await ingest(
        client,
        tenant,
        [span(uuid.uuid4().hex, "support-bot", "thanks", minutes_ago=2 * 24 * 60) for _ in range(n)],
    )
    await queue.join()
    steady = (await client.get(f"{tenant.ws}/supervisor/next-action", headers=tenant.headers)).json()
    assert steady["quality_drop"] is None

    await ingest(
        client, tenant, [span(uuid.uuid4().hex, "support-bot", "no", minutes_ago=30) for _ in range(n)]
    )
    await queue.join()
    proposed = (await client.get(f"{tenant.ws}/supervisor/next-action", headers=tenant.headers)).json()
    assert proposed["action"] == "run_scan"
    drop = proposed["quality_drop"]
    assert drop["baseline_mean"] == 1.0
    assert drop["recent_mean"] == 0.5
    assert drop["drop"] == 0.5
    assert drop["threshold"] == settings.quality_drop_threshold
    assert drop["recent_traces"] == n
    assert drop["baseline_traces"] == n
    assert "fell from 1.00 to 0.50" in proposed["reason"]
    assert proposed["call"]["body"]["rubric_id"] == rubric_id
    assert proposed["call"]["body"]["objective_id"] == objective.json()["id"]
    scan = await client.post(f"{tenant.ws}/scans", json=proposed["call"]["body"], headers=tenant.headers)
    assert scan.status_code == 202, scan.text


async def test_online_scores_equal_a_full_evaluation_of_the_same_traces(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue, db: Database
) -> None:
    """Online scoring reads only tool and failed spans: the scores must be those of the whole trace."""
    agent_id = await create_agent(client, tenant, "checker")
    rubric = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={
            "name": "Tools",
            "dimensions": [
                {"key": "ok", "scorer": {"type": "no_error"}},
                {"key": "tools", "scorer": {"type": "tool_success"}},
                {"key": "json", "scorer": {"type": "json_valid"}},
                {"key": "finished", "scorer": {"type": "not_truncated"}},
            ],
        },
        headers=tenant.headers,
    )
    rubric_id = rubric.json()["id"]
    await client.patch(
        f"{tenant.ws}/agents/{agent_id}", json={"online_rubric_id": rubric_id}, headers=tenant.headers
    )
    spans: list[dict[str, Any]] = []
    for index, kwargs in enumerate(
        [
            {},
            {"tool": ("search", None)},
            {"tool": ("search", "backend timed out")},
            {"error": "upstream 500"},
            {"finish_reason": "length"},
        ]
    ):
        spans.extend(
            llm_trace(
                "checker",
                f"claim {index}",
                '{"verdict": true}' if index % 2 else "nope",
                index=index,
                **kwargs,
            )[1]
        )
    await ingest_spans(client, tenant, spans)
    await queue.join()

    async with db.session() as session:
        traces = await load_engine_traces(session, tenant.workspace_id)
        rubric_engine = await load_rubric(session, tenant.workspace_id, uuid.UUID(rubric_id))
    table = score_traces(traces, rubric_engine, Objective(), objective_scales_from(traces))
    for index in range(len(table)):
        full = table.trace_score(index)
        detail = (await client.get(f"{tenant.ws}/traces/{full.trace_id}", headers=tenant.headers)).json()
        stored = detail["scores"]["dimensions"]
        assert {d.key: (d.score, d.passed) for d in full.dimensions} == {
            key: (value["score"], value["passed"]) for key, value in stored.items()
        }
        assert detail["score"] == pytest.approx(full.quality)
    assert (
        sorted(
            detail["score"]
            for detail in [
                (await client.get(f"{tenant.ws}/traces/{t.trace_id}", headers=tenant.headers)).json()
                for t in traces
            ]
        )
        != [1.0] * 5
    )


async def test_rescore_scores_the_traces_sent_before_the_agent_existed(
    client: httpx.AsyncClient, tenant: Tenant, queue: RecordingQueue
) -> None:
    # The README's order: traces first, then the agent they name, then online scoring and a rescore.
    early = {name: uuid.uuid4().hex for name in ("polite", "curt")}
    await ingest(
        client,
        tenant,
        [span(early["polite"], "early-bot", "Done, thanks!"), span(early["curt"], "early-bot", "No.")],
    )
    await queue.join()
    agent_id = await create_agent(client, tenant, "early-bot")
    rubric_id = await create_rubric(client, tenant)
    patched = await client.patch(
        f"{tenant.ws}/agents/{agent_id}",
        json={"online_rubric_id": rubric_id, "online_sample_rate": 1},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    started = await client.post(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}/rescore", headers=tenant.headers
    )
    assert started.status_code == 202, started.text
    await queue.join()

    progress = (await client.get(started.headers["location"], headers=tenant.headers)).json()
    assert progress["traces_scored"] == 2
    assert await trace_ids(client, tenant, min_score=1) == {early["polite"]}
    assert await trace_ids(client, tenant, agent="early-bot", max_score=0.5) == {early["curt"]}
