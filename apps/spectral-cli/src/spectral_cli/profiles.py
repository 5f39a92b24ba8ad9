"""Profiles: a server URL, a token and a default workspace per name, kept in the user's config
directory (`$SPECTRAL_CONFIG_DIR`, else the platform's, e.g. `~/.config/spectral`) in a file only
its owner can read (0600): the token is a credential."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_config_dir

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_PROFILE = "default"


@dataclass(slots=True)
class Profile:
    server: str = DEFAULT_SERVER
    token: str | None = None
    workspace_id: str | None = None
    email: str | None = None


def config_dir() -> Path:
    return Path(os.environ.get("SPECTRAL_CONFIG_DIR") or user_config_dir("spectral", appauthor=False))


def profiles_path() -> Path:
    return config_dir() / "profiles.json"


def load_profiles() -> dict[str, Profile]:
    path = profiles_path()
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {name: Profile(**values) for name, values in raw.items()}


def load_profile(name: str) -> Profile:
    return load_profiles().get(name, Profile())


def save_profile(name: str, profile: Profile) -> Path:
    """Write the profiles file atomically, created 0600 so the token is never readable by others."""
    profiles = load_profiles()
    profiles[name] = profile
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({key: asdict(value) for key, value in profiles.items()}, out, indent=2)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
