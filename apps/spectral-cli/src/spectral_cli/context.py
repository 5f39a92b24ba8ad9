"""What every command shares: the chosen profile, the client, and how results are printed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from spectral_cli.client import Client
from spectral_cli.errors import CliError, ExitCode
from spectral_cli.profiles import Profile, load_profile

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON instead of a table (for scripts).")
]


@dataclass(slots=True)
class Ctx:
    profile_name: str
    profile: Profile
    server: str
    token: str | None
    workspace_id: str | None
    _client: Client | None = field(default=None)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(server_url(self.server), self.token)
        return self._client

    def use_server(self, server: str | None) -> None:
        """Talk to `server` from now on (a login keeps it in the profile)."""
        if server:
            self.server = server_url(server)
            self._client = None

    def ws(self) -> str:
        if not self.workspace_id:
            raise CliError("no workspace: run `spectral login` or pass --workspace ID", ExitCode.AUTH)
        return f"/api/v1/workspaces/{self.workspace_id}"

    def require_token(self) -> None:
        if not self.token:
            raise CliError(
                f"not logged in (profile {self.profile_name!r}): run `spectral login`", ExitCode.AUTH
            )


def state(ctx: typer.Context) -> Ctx:
    obj = ctx.find_root().obj
    assert isinstance(obj, Ctx)
    return obj


API_PREFIX = "/api/v1"


def server_url(text: str) -> str:
    """The server's base URL from --server, SPECTRAL_SERVER or a profile. One that ends in the
    API's prefix (the docs' curl examples start with `http://127.0.0.1:8000/api/v1`) names the
    same server; one without a scheme is refused with the URL that was probably meant."""
    url = text.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(
            f"the server URL {text!r} needs its scheme: --server http://{url} (or https://)", ExitCode.USAGE
        )
    return url.removesuffix(API_PREFIX)


def make_ctx(profile: str, server: str | None, token: str | None, workspace: str | None) -> Ctx:
    stored = load_profile(profile)
    given = server or stored.server
    try:
        base_url = server_url(given)
    except CliError:
        base_url = given  # refused once a command talks to it: `--help` still answers
    return Ctx(
        profile_name=profile,
        profile=stored,
        server=base_url,
        token=token or stored.token,
        workspace_id=workspace or stored.workspace_id,
    )


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for a parser.
    print(json.dumps(data, indent=2, default=str))


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render()


ID_COLUMNS = frozenset({"id", "change set", "trace id"})


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        if column in ID_COLUMNS:
            result.add_column(column, no_wrap=True, min_width=36)
        else:
            result.add_column(column)
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def results_of(page: Any) -> list[dict[str, Any]]:
    """A collection's results (`{"results": [...], "pagination": ...}`), or a bare list."""
    if isinstance(page, dict) and "results" in page:
        return list(page["results"])
    return list(page)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def resolve_agent(ctx: Ctx, ref: str) -> str:
    """An agent by id, or by slug (what its traces name it by)."""
    if is_uuid(ref):
        return ref
    agents = results_of(ctx.client.get(f"{ctx.ws()}/agents", params={"limit": 200}))
    for agent in agents:
        if agent.get("slug") == ref:
            return str(agent["id"])
    raise CliError(f"no agent with slug {ref!r} in this workspace", ExitCode.API_ERROR)


def read_json_file(path: str) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}", ExitCode.USAGE) from exc
