"""The bundled common-password list and the hashing profile the settings choose."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import profiles

from spectral.platform.identity.password_policy import MIN_PASSWORD_LENGTH, common_passwords, is_common
from spectral.platform.identity.passwords import Passwords
from spectral.platform.shared.settings import Environment, Settings, SettingsError


def test_the_bundled_list_is_loaded_whole() -> None:
    listed = common_passwords()
    assert 8000 < len(listed) < 10_000
    # Nothing the length rule already refuses, nothing of the header, and '#' inside the list is a password.
    assert min(len(p) for p in listed) >= MIN_PASSWORD_LENGTH
    assert not any(p.startswith("# ") for p in listed)
    assert "#1stunna" in listed


@pytest.mark.parametrize(
    ("password", "common"), [("Password1", True), ("qwertyuiop", True), ("correct horse battery", False)]
)
def test_common_passwords_are_found_whatever_their_case(password: str, common: bool) -> None:
    assert is_common(password) is common


def test_production_hashes_with_the_rfc_9106_low_memory_profile(tmp_path: Path) -> None:
    passwords = Passwords.from_settings(Settings(env=Environment.EMBEDDED, data_dir=tmp_path))
    assert passwords.parameters == profiles.RFC_9106_LOW_MEMORY


def test_explicit_argon2_parameters_override_the_profile(tmp_path: Path) -> None:
    settings = Settings(env=Environment.EMBEDDED, data_dir=tmp_path, argon2_time_cost=4, argon2_parallelism=2)
    parameters = Passwords.from_settings(settings).parameters
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (4, 65536, 2)


@pytest.mark.parametrize("weak", [{"argon2_time_cost": 1}, {"argon2_memory_kib": 8192}])
def test_parameters_below_the_minimum_refuse_to_start(tmp_path: Path, weak: dict[str, int]) -> None:
    with pytest.raises(SettingsError, match="argon2 parameters below the minimum"):
        Settings(env=Environment.EMBEDDED, data_dir=tmp_path, **weak)  # type: ignore[arg-type]
