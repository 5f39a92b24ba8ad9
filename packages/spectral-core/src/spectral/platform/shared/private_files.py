"""Files only the service's own user may read: the data directory (0700), the embedded SQLite
database and the generated JWT secret (0600). Created with their final mode, so no other user
can open them in the moment between creation and a chmod."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> None:
    """Create `path` (and missing parents) as 0700; an existing directory is left as it is."""
    if path.is_dir():
        return
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; the directory we just made gets exactly 0700.
    path.chmod(DIRECTORY_MODE)


def create_private_file(path: Path, content: str = "") -> None:
    """Create `path` as 0600 with `content`; FileExistsError when it already exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)


def private_sqlite_file(url: str) -> None:
    """Before SQLite opens a file database, create it 0600 in a 0700 directory. SQLite gives
    its -wal and -shm files the database file's permissions, so they are private too."""
    if not url.startswith("sqlite") or ":///" not in url:
        return
    location = url.split(":///", 1)[1].split("?", 1)[0]
    if not location or location == ":memory:" or location.startswith("file:"):
        return
    path = Path(location)
    private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        create_private_file(path)
