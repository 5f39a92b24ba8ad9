"""Text measures used by the scorers: edit distance, token F1, refusal detection, JSON extraction."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from typing import Any

_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_CODE_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)

# Openers of a model declining the request. Matched case-insensitively near the start of the output,
# where refusals are phrased; a later "I can't find that order" is an answer, not a refusal.
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|')t|cannot|am unable|won't)",
    r"\bI (?:can(?:no|')t|cannot|won't|will not|am unable to|am not able to) (?:help|assist|provide|comply"
    r"|answer|do that|support|discuss|share)",
    r"\bI(?:'m| am) (?:unable|not able|not allowed|not permitted) to (?:help|assist|provide|answer|discuss)",
    r"\bas an AI(?: language model)?\b",
    r"\b(?:this|that) (?:request|question) is (?:outside|beyond) (?:my|the) scope\b",
)
REFUSAL_WINDOW_CHARS = 300


def normalise(text: str, *, case_sensitive: bool, collapse_whitespace: bool) -> str:
    if collapse_whitespace:
        text = _WHITESPACE.sub(" ", text).strip()
    return text if case_sensitive else text.casefold()


def levenshtein(left: str, right: str) -> int:
    """Edit distance by the bit-parallel algorithm of Myers (1999) / Hyyrö (2001).

    Python integers serve as bit vectors of any length, so a pair costs O(len(left)) big-int
    operations instead of the O(len(left) * len(right)) of the dynamic programme.
    """
    if len(left) < len(right):
        left, right = right, left
    length = len(right)
    if length == 0:
        return len(left)
    match_masks: dict[str, int] = {}
    for index, char in enumerate(right):
        match_masks[char] = match_masks.get(char, 0) | (1 << index)
    all_ones = (1 << length) - 1
    last_bit = 1 << (length - 1)
    positive, negative, distance = all_ones, 0, length
    for char in left:
        eq = match_masks.get(char, 0)
        x_vertical = eq | negative
        x_horizontal = (((eq & positive) + positive) ^ positive) | eq
        h_positive = negative | (~(x_horizontal | positive) & all_ones)
        h_negative = positive & x_horizontal
        if h_positive & last_bit:
            distance += 1
        elif h_negative & last_bit:
            distance -= 1
        h_positive = ((h_positive << 1) | 1) & all_ones
        h_negative = (h_negative << 1) & all_ones
        positive = h_negative | (~(x_vertical | h_positive) & all_ones)
        negative = h_positive & x_vertical
    return distance


def edit_similarity(left: str, right: str) -> float:
    """1 - edit distance / length of the longer text (1.0 for two empty texts)."""
    longest = max(len(left), len(right))
    return 1.0 if longest == 0 else 1.0 - levenshtein(left, right) / longest


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def token_f1(left: str, right: str) -> float:
    """SQuAD-style token F1 over lower-cased word tokens (1.0 for two texts without tokens)."""
    left_tokens, right_tokens = tokens(left), tokens(right)
    if not left_tokens or not right_tokens:
        return 1.0 if left_tokens == right_tokens else 0.0
    overlap = sum((Counter(left_tokens) & Counter(right_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(left_tokens)
    recall = overlap / len(right_tokens)
    return 2 * precision * recall / (precision + recall)


# Rubrics often check one output with both json_valid and json_schema; a tiny cache parses it once.
# Callers must not mutate the returned value.
@lru_cache(maxsize=16)
def parse_json(text: str, *, allow_code_fence: bool) -> tuple[Any, str | None]:
    """(value, None) when the text is JSON, else (None, the parser's complaint)."""
    candidate = text
    if allow_code_fence:
        fenced = _CODE_FENCE.match(text)
        if fenced:
            candidate = fenced.group(1)
    try:
        return json.loads(candidate), None
    except ValueError as exc:
        return None, str(exc)
    except RecursionError:
        # An output nested thousands deep is not an answer anyone checks; it must not crash scoring.
        return None, "nested too deeply to parse"
