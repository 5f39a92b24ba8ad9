"""User-supplied regular expressions, compiled by RE2: matching is linear in the text, always.

Python's `re` backtracks, so a rubric pattern such as `(a+)+$` takes exponential time on a short
output and freezes whatever thread runs it. Every pattern a tenant writes (the `regex` scorer,
`no_refusal`'s extra patterns, `pattern` in a `json_schema`) goes through `compile_user_pattern`,
which refuses what RE2 cannot run in linear time (backreferences, look-around, possessive
quantifiers, `\\Z`) with a message saying so, when the rubric is written.

Semantics differ from `re` in small ways worth knowing: `\\d`, `\\w`, `\\s` and `\\b` are ASCII
(write `\\pL`, `\\pN` for Unicode classes), and `$` without the `m` flag matches only at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2

# Long enough for any real check; a longer "pattern" is a mistake or an attack on the compiler.
MAX_PATTERN_CHARS = 4096
# RE2 matches in time linear in the text, times the size of the compiled program when its DFA
# runs out of memory and it falls back to the NFA. Real checks compile to a few hundred
# instructions; `(\pL|\pN|\s){60}` compiles to 80,000 and then takes seconds per MiB of text. So
# programs are capped, which keeps every match within milliseconds per MiB.
MAX_PROGRAM_SIZE = 10_000
_FLAG_LETTERS = frozenset("ims")


class UnsupportedPatternError(ValueError):
    """The pattern (or, when `about_flags`, its flags) cannot be compiled by the linear-time
    engine; the message says why."""

    def __init__(self, message: str, *, about_flags: bool = False) -> None:
        super().__init__(message)
        self.about_flags = about_flags


@dataclass(frozen=True, slots=True)
class UserPattern:
    """A compiled user pattern; `search`/`fullmatch` return the matched text or None."""

    pattern: str
    _compiled: Any

    def search(self, text: str) -> str | None:
        found = self._compiled.search(text)
        return None if found is None else str(found.group(0))

    def fullmatch(self, text: str) -> str | None:
        found = self._compiled.fullmatch(text)
        return None if found is None else str(found.group(0))


def _options(*, ignore_case: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the user's mistake, not a server log line
    options.case_sensitive = not ignore_case
    return options


def compile_user_pattern(pattern: str, flags: str = "") -> UserPattern:
    """Compile `pattern` with RE2; `flags` is any of `i` (ignore case), `m` (multi-line `^`/`$`)
    and `s` (`.` matches a newline). Raises `UnsupportedPatternError` with a readable reason."""
    unknown = sorted(set(flags) - _FLAG_LETTERS)
    if unknown:
        raise UnsupportedPatternError(
            f"unknown flag {unknown[0]!r}; use any of i, m, s (x, verbose, is not supported)",
            about_flags=True,
        )
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsupportedPatternError(f"longer than {MAX_PATTERN_CHARS} characters")
    inline = "".join(sorted(set(flags) - {"i"}))
    source = f"(?{inline}){pattern}" if inline else pattern
    try:
        compiled = re2.compile(source, _options(ignore_case="i" in flags))
    except re2.error as exc:
        raise UnsupportedPatternError(_reason(exc)) from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise UnsupportedPatternError(
            f"invalid regular expression: it compiles to {compiled.programsize} instructions, more than "
            f"{MAX_PROGRAM_SIZE}; narrow its character classes (\\pL, \\w under i) or its repetitions"
        )
    return UserPattern(pattern, compiled)


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lowered = message.lower()
    if "invalid escape sequence: \\" in lowered and message.rstrip()[-1:].isdigit():
        hint = "backreferences are not supported (matching must stay linear in the text)"
    elif "invalid perl operator: (?=" in lowered or "invalid perl operator: (?!" in lowered:
        hint = "look-ahead is not supported (matching must stay linear in the text)"
    elif "invalid perl operator: (?<" in lowered:
        hint = "look-behind is not supported (matching must stay linear in the text)"
    elif "pattern too large" in lowered:
        hint = "the pattern compiles to too large an automaton; simplify its repetitions"
    else:
        hint = "not supported by the linear-time (RE2) engine"
    return f"invalid regular expression ({message or 'rejected'}): {hint}"
