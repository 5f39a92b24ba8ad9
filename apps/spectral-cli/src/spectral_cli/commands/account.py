"""Log in, register, workspaces and API keys."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from spectral_cli.context import JsonOpt, emit, out, print_json, results_of, state, table
from spectral_cli.profiles import Profile, save_profile

workspaces_app = typer.Typer(
    help="Workspaces you can reach; pick the profile's default.", no_args_is_help=False
)
keys_app = typer.Typer(
    help="Workspace API keys for agents (read:agents, write:traces).", no_args_is_help=True
)


def _store(ctx: typer.Context, token: str, workspace_id: str | None, email: str | None) -> Profile:
    c = state(ctx)
    profile = Profile(server=c.server, token=token, workspace_id=workspace_id, email=email)
    path = save_profile(c.profile_name, profile)
    c.token, c.workspace_id, c.profile = token, workspace_id, profile
    out.print(
        f"[green]logged in[/] as {email or 'token'} on {c.server} (profile {c.profile_name}, saved to {path})"
    )
    return profile


def _first_workspace(login: dict[str, Any]) -> str | None:
    workspaces = login.get("workspaces") or []
    if workspaces:
        return str(workspaces[0]["id"])
    return str(login["workspace_id"]) if login.get("workspace_id") else None


def login(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="Your account's email.")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="SPECTRAL_PASSWORD", help="Asked for when not given.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--with-token", help="Store this token or API key instead of logging in.")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="The server to log in to; kept in the profile (default: the profile's)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Log in and store the token in this profile (file readable only by you)."""
    c = state(ctx)
    c.use_server(server)
    if token:
        _store(ctx, token, c.workspace_id, None)
        if as_json:
            print_json({"profile": c.profile_name, "server": c.server, "workspace_id": c.workspace_id})
        return
    if not email:
        email = typer.prompt("Email")
    if password is None:
        password = typer.prompt("Password", hide_input=True)
    c.token = None
    answer = c.client.post("/api/v1/auth/login", {"email": email, "password": password})
    workspace = c.workspace_id or _first_workspace(answer)
    if as_json:
        _quiet_store(ctx, answer["access_token"], workspace, email)
        print_json({"profile": c.profile_name, "server": c.server, "workspace_id": workspace, "email": email})
    else:
        _store(ctx, answer["access_token"], workspace, email)


def _quiet_store(ctx: typer.Context, token: str, workspace_id: str | None, email: str | None) -> None:
    c = state(ctx)
    save_profile(
        c.profile_name, Profile(server=c.server, token=token, workspace_id=workspace_id, email=email)
    )


def register(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="Your email.")],
    tenant: Annotated[str, typer.Option(help="Your organisation's name (the account).")],
    password: Annotated[
        str | None,
        typer.Option(envvar="SPECTRAL_PASSWORD", help="At least 8 characters; asked for when not given."),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="The server to log in to; kept in the profile (default: the profile's)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a user, an account and its first workspace, and log in."""
    c = state(ctx)
    c.use_server(server)
    if password is None:
        password = typer.prompt("Password (at least 8 characters)", hide_input=True, confirmation_prompt=True)
    c.token = None
    answer = c.client.post(
        "/api/v1/auth/register", {"email": email, "password": password, "tenant_name": tenant}
    )
    workspace = str(answer["workspace_id"])
    if as_json:
        _quiet_store(ctx, answer["access_token"], workspace, email)
        print_json({k: v for k, v in answer.items() if k != "access_token"} | {"profile": c.profile_name})
    else:
        _store(ctx, answer["access_token"], workspace, email)


def logout(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Revoke this profile's token on the server and forget it."""
    c = state(ctx)
    c.require_token()
    c.client.post("/api/v1/auth/logout")
    save_profile(c.profile_name, Profile(server=c.server, workspace_id=c.workspace_id))
    emit({"profile": c.profile_name, "logged_out": True}, as_json, lambda: out.print("logged out"))


@workspaces_app.callback(invoke_without_command=True)
def workspaces(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the workspaces you can reach (the default one is marked)."""
    if ctx.invoked_subcommand is not None:
        return
    c = state(ctx)
    c.require_token()
    rows = results_of(c.client.get("/api/v1/workspaces", params={"limit": 200}))
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(
                None,
                ["", "id", "name", "description"],
                [
                    (
                        "*" if str(w["id"]) == c.workspace_id else "",
                        w["id"],
                        w.get("name"),
                        w.get("description"),
                    )
                    for w in rows
                ],
            )
        ),
    )


@workspaces_app.command("use")
def workspaces_use(ctx: typer.Context, workspace_id: str, as_json: JsonOpt = False) -> None:
    """Make WORKSPACE_ID this profile's default workspace."""
    c = state(ctx)
    c.require_token()
    workspace = c.client.get(f"/api/v1/workspaces/{workspace_id}")
    save_profile(
        c.profile_name,
        Profile(server=c.server, token=c.token, workspace_id=str(workspace["id"]), email=c.profile.email),
    )
    emit(workspace, as_json, lambda: out.print(f"default workspace: {workspace['name']} ({workspace['id']})"))


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str,
    scope: Annotated[
        list[str] | None, typer.Option(help="read:agents and/or write:traces (default: both).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is shown only now."""
    c = state(ctx)
    body: dict[str, Any] = {"name": name}
    if scope:
        body["scopes"] = scope
    key = c.client.post(f"{c.ws()}/keys", body)
    emit(
        key,
        as_json,
        lambda: out.print(
            f"key {key['key_id']} ({', '.join(key.get('scopes', []))}); keep the secret, it is not shown again:\n{key['key']}"
        ),
    )


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List live keys by prefix (never their secrets)."""
    c = state(ctx)
    rows = results_of(c.client.get(f"{c.ws()}/keys", params={"limit": 200}))
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(
                None,
                ["id", "name", "prefix", "scopes", "last used", "expires"],
                [
                    (
                        k["id"],
                        k["name"],
                        k["prefix"],
                        ",".join(k.get("scopes", [])),
                        k.get("last_used_at"),
                        k.get("expires_at"),
                    )
                    for k in rows
                ],
            )
        ),
    )


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str, as_json: JsonOpt = False) -> None:
    """Revoke a key at once."""
    c = state(ctx)
    c.client.delete(f"{c.ws()}/keys/{key_id}")
    emit({"id": key_id, "revoked": True}, as_json, lambda: out.print(f"revoked {key_id}"))
