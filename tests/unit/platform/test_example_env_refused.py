"""infra/spectral.env.example is a template: production refuses to start on its placeholder secret,
and starts once a real one is set (the rest of the file is valid as it is)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from spectral.platform.shared.settings import SettingsError, load_settings

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "spectral.env.example"


def example_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_examples_placeholder_secret_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in example_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SPECTRAL_DATA_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="placeholder"):
        load_settings()
    monkeypatch.setenv("SPECTRAL_JWT_SECRET", secrets.token_urlsafe(48))
    assert load_settings().is_production
