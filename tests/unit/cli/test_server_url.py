"""The server URL a user gives `spectral` (--server, SPECTRAL_SERVER, a profile)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectral_cli.context import make_ctx, server_url
from spectral_cli.errors import CliError, ExitCode


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        " http://127.0.0.1:8000/api/v1/ ",
        "http://127.0.0.1:8000/api/v1",
    ],
)
def test_the_api_prefix_and_slashes_name_the_same_server(given: str) -> None:
    assert server_url(given) == "http://127.0.0.1:8000"


def test_a_url_without_a_scheme_is_a_usage_error_showing_the_fix() -> None:
    with pytest.raises(CliError) as refused:
        server_url("127.0.0.1:8000")
    assert refused.value.code == ExitCode.USAGE
    assert "--server http://127.0.0.1:8000" in refused.value.message


def test_a_bad_server_is_refused_when_used_not_before_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECTRAL_CONFIG_DIR", str(tmp_path))
    ctx = make_ctx("default", "localhost:8000", None, None)  # what `spectral login --help` builds
    with pytest.raises(CliError, match="needs its scheme"):
        _ = ctx.client
