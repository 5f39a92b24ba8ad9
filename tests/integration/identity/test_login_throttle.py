"""Login throttling: an attacker's address is throttled, the owner from another address still gets
in; one address cannot stuff credentials across accounts; past the global ceiling of failures only
addresses that failed wait. Each runs on the in-memory counters (embedded) and on Redis
(production), with clients at real source addresses, and behind a trusted proxy."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlmodel import select

from fixtures_identity import Tenant, register_tenant
from spectral.platform.identity.models import User
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from testenv import REDIS_URL

PROBLEM = "application/problem+json"
ATTACKER = "203.0.113.66"
OWNER_ELSEWHERE = "198.51.100.20"

ClientAt = Callable[[str], httpx.AsyncClient]


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, run_id: str) -> AsyncIterator[tuple[Redis | None, str]]:
    if request.param == "memory":
        yield None, "unused"
        return
    redis = Redis.from_url(REDIS_URL)
    prefix = f"spectral-test:{run_id}:{uuid.uuid4().hex[:8]}"
    yield redis, prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
def app(
    settings: Settings, db: Database, queue: InProcessQueue, counters: tuple[Redis | None, str]
) -> FastAPI:
    redis, prefix = counters
    settings.redis_key_prefix = prefix
    settings.rate_limit_login_per_minute = 4
    settings.rate_limit_login_per_source_per_minute = 8
    settings.rate_limit_login_global_failures_per_minute = 12
    settings.trusted_proxies = [ipaddress.ip_network("10.0.0.0/8")]
    return create_app(settings, state=AppState(settings=settings, db=db, queue=queue, redis=redis))


@pytest.fixture
async def client_at(app: FastAPI) -> AsyncIterator[ClientAt]:
    """An API client whose TCP peer is the given address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


async def _login(http: httpx.AsyncClient, email: str, password: str, **headers: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"email": email, "password": password}, headers=headers)


async def _users(db: Database) -> list[tuple[str, str | None, int]]:
    async with db.session() as session:
        rows = await session.exec(select(User).order_by(User.email))
        return [(u.email, u.password_hash, u.token_generation) for u in rows.all()]


async def test_an_attacker_cannot_lock_the_owner_out(
    client_at: ClientAt, tenant: Tenant, db: Database
) -> None:
    before = await _users(db)
    attacker = client_at(ATTACKER)
    statuses = [(await _login(attacker, tenant.email, f"guess {i}")).status_code for i in range(5)]
    assert statuses == [401] * 4 + [429]
    limited = await _login(attacker, tenant.email, tenant.password)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == PROBLEM
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "this account from your address" in limited.json()["detail"]
    owner = await _login(client_at(OWNER_ELSEWHERE), tenant.email, tenant.password)
    assert owner.status_code == 200
    assert await _users(db) == before


async def test_a_success_clears_the_account_counter_of_its_address(
    client_at: ClientAt, tenant: Tenant
) -> None:
    owner = client_at(OWNER_ELSEWHERE)
    assert [(await _login(owner, tenant.email, f"typo {i}")).status_code for i in range(3)] == [401] * 3
    assert (await _login(owner, tenant.email, tenant.password)).status_code == 200
    assert [(await _login(owner, tenant.email, f"typo {i}")).status_code for i in range(4)] == [401] * 4


async def test_credential_stuffing_from_one_address_is_throttled_across_accounts(
    client_at: ClientAt, client: httpx.AsyncClient, app: FastAPI, tenant: Tenant, db: Database
) -> None:
    victims = [await register_tenant(client, app, f"Victim {i}") for i in range(3)]
    before = await _users(db)
    stuffer = client_at(ATTACKER)
    emails = [f"user{i}@example.com" for i in range(8)]
    assert [(await _login(stuffer, email, "Summer2024!")).status_code for email in emails] == [401] * 8
    for victim in [tenant, *victims]:
        refused = await _login(stuffer, victim.email, victim.password)
        assert refused.status_code == 429
        assert refused.json()["detail"] == "Too many sign-in attempts from your address; try again later"
    # Every owner still signs in from their own address.
    for i, victim in enumerate([tenant, *victims]):
        assert (
            await _login(client_at(f"198.51.100.{30 + i}"), victim.email, victim.password)
        ).status_code == 200
    assert await _users(db) == before


async def test_past_the_global_failure_ceiling_only_addresses_that_failed_wait(
    client_at: ClientAt, tenant: Tenant, db: Database
) -> None:
    before = await _users(db)
    # A distributed guess: 12 addresses, one failure each, every one under its own limits.
    bots = [client_at(f"192.0.2.{i}") for i in range(1, 13)]
    assert [(await _login(bot, tenant.email, "Password!1")).status_code for bot in bots] == [401] * 12
    # The ceiling is reached: an address that failed gets no second try in this window...
    again = await _login(bots[0], tenant.email, tenant.password)
    assert again.status_code == 429
    assert again.json()["detail"].startswith("Sign-in is throttled after failed attempts")
    assert int(again.headers["retry-after"]) >= 1
    # ...while the owner, who has not failed, gets in.
    assert (await _login(client_at(OWNER_ELSEWHERE), tenant.email, tenant.password)).status_code == 200
    assert await _users(db) == before


async def test_a_forged_forwarded_for_does_not_escape_the_throttle(
    client_at: ClientAt, tenant: Tenant
) -> None:
    attacker = client_at(ATTACKER)  # not a trusted proxy: its X-Forwarded-For is ignored
    statuses = [
        (
            await _login(attacker, tenant.email, f"guess {i}", **{"X-Forwarded-For": f"192.0.2.{i}"})
        ).status_code
        for i in range(5)
    ]
    assert statuses == [401] * 4 + [429]


async def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client(
    client_at: ClientAt, tenant: Tenant
) -> None:
    proxy = client_at("10.0.0.2")
    # The attacker forges hops on the left; the proxies append the real address on the right.
    statuses = [
        (
            await _login(
                proxy, tenant.email, f"guess {i}", **{"X-Forwarded-For": f"192.0.2.{i}, {ATTACKER}, 10.0.0.7"}
            )
        ).status_code
        for i in range(5)
    ]
    assert statuses == [401] * 4 + [429]
    # Another client behind the same proxy is another source.
    owner = await _login(proxy, tenant.email, tenant.password, **{"X-Forwarded-For": OWNER_ELSEWHERE})
    assert owner.status_code == 200


async def test_ipv6_clients_are_counted_per_64(client_at: ClientAt, tenant: Tenant) -> None:
    # One subscriber's /64 holds 2^64 addresses: rotating through them does not reset the count.
    statuses = [
        (await _login(client_at(f"2001:db8:1:2::{i + 1:x}"), tenant.email, f"guess {i}")).status_code
        for i in range(5)
    ]
    assert statuses == [401] * 4 + [429]
    assert (await _login(client_at("2001:db8:1:3::1"), tenant.email, tenant.password)).status_code == 200


async def test_reset_requests_are_counted_per_email_and_address(
    client_at: ClientAt, tenant: Tenant, queue: InProcessQueue
) -> None:
    attacker = client_at(ATTACKER)
    statuses = []
    for _ in range(5):
        statuses.append(
            (await attacker.post("/api/v1/auth/reset-password", json={"email": tenant.email})).status_code
        )
        await queue.join()  # the test database is one connection: one reset job at a time
    assert statuses == [202] * 4 + [429]
    owner = await client_at(OWNER_ELSEWHERE).post("/api/v1/auth/reset-password", json={"email": tenant.email})
    assert owner.status_code == 202
