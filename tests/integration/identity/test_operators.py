"""`spectral-admin create-operator` bootstraps operations staff; operations routes need their scopes."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlmodel import select

from fixtures_identity import Tenant
from spectral.platform import admin_cli
from spectral.platform.identity.models import User
from spectral.platform.identity.operators import grant_operator
from spectral.platform.identity.scopes import OperationsRole
from spectral.platform.migrations.runner import alembic_config, behind_head, upgrade
from spectral.platform.shared.db import Database
from testenv import TEST_JWT_SECRET


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    monkeypatch.setenv("SPECTRAL_DATABASE_URL", url)
    monkeypatch.setenv("SPECTRAL_ENV", "test")
    monkeypatch.setenv("SPECTRAL_JWT_SECRET", TEST_JWT_SECRET)
    return url


def test_cli_migrates_and_creates_an_operator(
    sqlite_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert admin_cli.main(["migrate"]) == 0
    assert admin_cli.main(["create-operator", "Ops@Example.com"]) == 0
    out = capsys.readouterr().out
    assert "created operator Ops@Example.com (owner)" in out
    assert "shown only now" in out
    # Again: the existing user gains the role and keeps their password.
    assert admin_cli.main(["create-operator", "ops@example.com", "--role", "viewer"]) == 0
    assert "password is unchanged" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert admin_cli.main(["create-operator", "other@example.com", "--password-stdin"]) == 2
    assert "at least 8 characters long; this one has 5" in capsys.readouterr().err
    # The same policy as the API: a common password is refused too, and no user is created.
    monkeypatch.setattr("sys.stdin", io.StringIO("Password123\n"))
    assert admin_cli.main(["create-operator", "other@example.com", "--password-stdin"]) == 2
    assert "most commonly used passwords" in capsys.readouterr().err
    # Not an address the API would take at sign-up: refused, nobody created.
    assert admin_cli.main(["create-operator", "ops-without-a-domain"]) == 2
    assert "'ops-without-a-domain' is not an email address" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a decent operator passphrase\n"))
    assert admin_cli.main(["create-operator", "other@example.com", "--password-stdin"]) == 0
    assert "created operator other@example.com" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "once_migrated"),
    [(["create-operator", "ops@example.com"], 0), (["deactivate-user", "nobody@example.com"], 1)],
)
def test_cli_refuses_a_database_without_the_latest_schema(
    sqlite_env: str, command: list[str], once_migrated: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not created yet: a clear message and exit code 2, not a traceback from the first query.
    with pytest.raises(SystemExit) as refused:
        admin_cli.main(command)
    assert refused.value.code == 2
    assert "the database has no schema yet: run `spectral-admin migrate`" in capsys.readouterr().err
    # Behind the latest revision (a server upgraded, its database not yet).
    upgrade(sqlite_env, "0011_traces_created_index")
    with pytest.raises(SystemExit):
        admin_cli.main(command)
    assert "is at revision 0011_traces_created_index, not the latest" in capsys.readouterr().err
    assert admin_cli.main(["migrate"]) == 0
    assert admin_cli.main(command) == once_migrated  # 1: no such user to deactivate


def test_cli_deactivates_and_reactivates_a_user(sqlite_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert admin_cli.main(["migrate"]) == 0
    assert admin_cli.main(["create-operator", "ops@example.com"]) == 0
    capsys.readouterr()
    assert admin_cli.main(["deactivate-user", "Ops@Example.com"]) == 0
    assert "ops@example.com is deactivated" in capsys.readouterr().out.lower()
    assert not asyncio.run(_is_active(sqlite_env, "ops@example.com"))
    assert admin_cli.main(["reactivate-user", "ops@example.com"]) == 0
    assert asyncio.run(_is_active(sqlite_env, "ops@example.com"))
    assert admin_cli.main(["deactivate-user", "nobody@example.com"]) == 1
    assert "no user nobody@example.com" in capsys.readouterr().err


async def _is_active(url: str, email: str) -> bool:
    db = Database(url)
    try:
        async with db.session() as session:
            user = (await session.exec(select(User).where(User.email == email))).one()
            return user.is_active
    finally:
        await db.dispose()


@pytest.mark.both_backends
async def test_operations_tenants_needs_operations_scopes(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert (await client.get("/api/v1/operations/tenants", headers=tenant.headers)).status_code == 403
    async with tenant.state.db.session() as session:
        await grant_operator(
            session,
            "staff@example.com",
            OperationsRole.VIEWER,
            password="staff password",
            passwords=tenant.state.passwords,
        )
    login = await client.post(
        "/api/v1/auth/login", json={"email": "staff@example.com", "password": "staff password"}
    )
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = (await client.get("/api/v1/auth/me", headers=staff)).json()
    assert me["scopes"] == ["read:operations"]
    tenants = await client.get("/api/v1/operations/tenants", headers=staff)
    assert tenants.status_code == 200
    names = {t["name"]: t for t in tenants.json()["results"]}
    assert names["Acme"]["workspaces"] == 1
    assert names["Acme"]["members"] == 1
    assert "Spectral Operations" not in names
    # Staff see no tenant's workspace.
    assert (await client.get(other_tenant.ws, headers=staff)).status_code == 404


def test_a_schema_newer_than_this_code_lets_servers_start_but_not_admin_writes(sqlite_env: str) -> None:
    # A rolling upgrade: the new release migrated, an old process restarts before it is replaced.
    upgrade(sqlite_env)
    engine = sa.create_engine(sqlite_env)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_a_newer_release'"))
    engine.dispose()
    assert behind_head(sqlite_env, newer_is_fine=True) is None
    assert behind_head(sqlite_env) == (
        f"the database is at revision 9999_from_a_newer_release, not the latest ({_head()})"
    )


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
