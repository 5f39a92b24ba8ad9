"""What a new password must be: at least 8 characters (at most 1024, so hashing stays bounded)
and not one of the most common passwords (a bundled list, `common_passwords.txt`). Each refusal
says why, and a short password's says what the minimum is."""

from __future__ import annotations

import itertools
from functools import cache
from importlib.resources import files

from pydantic_core import PydanticCustomError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
COMMON_PASSWORDS_FILE = "common_passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    text = files(__package__).joinpath(COMMON_PASSWORDS_FILE).read_text(encoding="utf-8")
    lines = iter(text.splitlines())
    # The file opens with a comment block (its source); every line after it is a password.
    body = itertools.dropwhile(lambda line: line.startswith("#"), lines)
    return frozenset(line for line in body if line)


def is_common(password: str) -> bool:
    # Case and surrounding blanks do not make a listed password any harder to guess.
    return password.strip().lower() in common_passwords()


TOO_SHORT = "Password must be at least {min_length} characters long; this one has {length}"
TOO_COMMON = "Password is one of the most commonly used passwords; choose another"


def password_problem(password: str) -> tuple[str, str, dict[str, int]] | None:
    """Why `password` may not be used, as (error type, message template, its values); None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password_too_short", TOO_SHORT, {"min_length": MIN_PASSWORD_LENGTH, "length": len(password)}
    if is_common(password):
        return "password_too_common", TOO_COMMON, {}
    return None


def check_new_password(password: str) -> str:
    """Pydantic validator of every new password (register, change, reset)."""
    problem = password_problem(password)
    if problem is not None:
        raise PydanticCustomError(*problem)
    return password
