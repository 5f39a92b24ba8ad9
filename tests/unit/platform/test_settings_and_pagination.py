from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.shared.settings import Environment, Settings, SettingsError
from spectral.platform.shared.startup import unknown_settings


def test_embedded_default_needs_no_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.env is Environment.EMBEDDED
    assert settings.uses_sqlite
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.spectral' / 'spectral.db'}"
    assert settings.redis_url is None


def test_embedded_jwt_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).jwt_secret_value()
    second = Settings(data_dir=tmp_path).jwt_secret_value()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_settings_read_the_spectral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECTRAL_API_PORT", "9001")
    monkeypatch.setenv("SPECTRAL_DATA_DIR", "/tmp/elsewhere")
    settings = Settings()
    assert settings.api_port == 9001
    assert settings.data_dir == Path("/tmp/elsewhere")


def test_production_refuses_sqlite_and_missing_secrets() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(env=Environment.PRODUCTION)
    message = str(refused.value)
    assert "SPECTRAL_DATABASE_URL" in message
    assert "SPECTRAL_REDIS_URL" in message
    assert "SPECTRAL_JWT_SECRET" in message


def test_production_accepts_real_services() -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        database_url="postgresql+psycopg://db/spectral",
        redis_url="redis://cache:6379/0",
        jwt_secret="s" * 48,  # type: ignore[arg-type]
    )
    assert settings.is_production
    assert not settings.uses_sqlite


def test_ports_are_validated() -> None:
    with pytest.raises(ValidationError):
        Settings(api_port=70000)


def test_page_envelope_shape() -> None:
    page = Page[int].of([1, 2], total=42, params=PageParams(limit=2, offset=4))
    assert page.model_dump() == {"results": [1, 2], "pagination": {"total": 42, "limit": 2, "offset": 4}}


def test_only_variables_no_setting_reads_are_called_unknown() -> None:
    environ = {
        "SPECTRAL_DATABSE_URL": "sqlite:///x.db",
        "SPECTRAL_FOO": "1",
        "spectral_env": "test",  # settings are read case-insensitively
        "SPECTRAL_API_PORT": "8000",
        "SPECTRAL_SERVER": "http://127.0.0.1:8000",  # the client's
        "SPECTRAL_TEST_PG_DSN": "postgresql://",  # the tests'
        "PATH": "/usr/bin",
    }
    assert unknown_settings(environ) == [
        "SPECTRAL_DATABSE_URL is not a setting and is ignored (did you mean SPECTRAL_DATABASE_URL?)",
        "SPECTRAL_FOO is not a setting and is ignored",
    ]
