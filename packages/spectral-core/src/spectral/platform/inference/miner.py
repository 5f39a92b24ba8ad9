"""Template mining: recover the constant text and the variable slots behind a set of prompts.

Pure and deterministic (no I/O, no randomness). The steps:
1. Tokenise each prompt into words, whitespace runs and single punctuation marks, so constants
   and slots always sit on token boundaries (a number is never split into a constant "1" and a
   slot "23") and concatenating the tokens gives the prompt back exactly.
2. Induce a template Drain-style: start from the most frequent prompt and fold further prompts
   in by token alignment (difflib's longest-matching-block recursion, which keeps long constant
   runs together); tokens that do not align become slots. A prompt that would keep less than
   `min_similarity` of the template's constant text belongs to another template and is left for
   the next round; each round mines one template from what is still unexplained.
3. Match every prompt against the templates (constant runs found in order, anchored at both
   ends) to count what each explains and collect slot values; a slot is named after the kind of
   value it holds when every value looks like one (email, url, date, id, number).

Induction reads at most `sample_size` distinct prompts per round, and matching is `str.find`
per constant run, so 10,000 prompts of one template take well under a second or two. Aligning
two prompts that share little costs time quadratic in their length (two unrelated 4,000-word
prompts: about 4 s; 300 unrelated 500-word prompts: 25 s), so a prompt longer than
`MAX_INDUCED_CHARS` is matched against the templates but does not shape them, and the caller's
`checkpoint` is called between alignments and between matches (a time limit stops the work there).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"^https?://\S+$")),
    ("email", re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")),
    (
        "date",
        re.compile(
            r"^(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}/\d{1,2}/\d{4})$"
        ),
    ),
    (
        "id",
        re.compile(
            r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,64})$"
        ),
    ),
    ("number", re.compile(r"^[-+]?\d+([.,]\d+)?$")),
)
MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 200
# The longest prompt induction aligns (see the module docstring): one alignment stays within a
# few seconds, however little two prompts share.
MAX_INDUCED_CHARS = 20_000


class _Slot:
    """The slot marker inside a token sequence: equal to nothing but itself."""

    def __repr__(self) -> str:
        return "<slot>"


SLOT = _Slot()
Part = str | _Slot


@dataclass(frozen=True, slots=True)
class MinedSlot:
    name: str
    kind: str | None
    examples: tuple[str, ...]
    distinct_values: int


@dataclass(frozen=True, slots=True)
class MinedTemplate:
    """`text` uses `{{name}}` slots; `constants` are the literal runs around them, in order."""

    text: str
    constants: tuple[str, ...]
    slots: tuple[MinedSlot, ...]
    matched: int
    coverage: float


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


_WORD = re.compile(r"\w")


def _compress(parts: Sequence[Part]) -> list[Part]:
    """Merge adjacent slots and join adjacent constant tokens into runs. A run without any word
    character between two slots (the spaces and commas inside free text) joins the slots: free
    text always has spaces, which would otherwise cut one value into many slots."""
    joined = _join(parts)
    absorbed: list[Part] = []
    for index, part in enumerate(joined):
        inner = 0 < index < len(joined) - 1
        if isinstance(part, str) and inner and not _WORD.search(part):
            continue
        absorbed.append(part)
    return _join(absorbed)


def _join(parts: Sequence[Part]) -> list[Part]:
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, _Slot):
            if not merged or merged[-1] is not SLOT:
                merged.append(SLOT)
        elif part:
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
    return merged


def _fold(template: list[Part], prompt: list[str]) -> tuple[list[Part], float]:
    """Align `prompt` to `template` (token lists, slots as SLOT); the folded template and the share
    of the template's constant characters that survived."""
    matcher = SequenceMatcher(a=template, b=prompt, autojunk=False)
    folded: list[Part] = []
    kept = 0
    position_a = position_b = 0
    for start_a, start_b, size in matcher.get_matching_blocks():
        if start_a > position_a or start_b > position_b:
            folded.append(SLOT)
        block = template[start_a : start_a + size]
        folded.extend(block)
        kept += sum(len(part) for part in block if isinstance(part, str))
        position_a, position_b = start_a + size, start_b + size
    total = sum(len(part) for part in template if isinstance(part, str))
    return folded, (kept / total if total else 1.0)


def _induce(prompts: Sequence[str], *, min_similarity: float, checkpoint: Callable[[], None]) -> list[Part]:
    template: list[Part] = list(tokenize(prompts[0]))
    for prompt in prompts[1:]:
        checkpoint()
        folded, similarity = _fold(template, tokenize(prompt))
        if similarity >= min_similarity:
            template = folded
    # Re-tokenise the constant runs so later folds still align token by token.
    tokens: list[Part] = []
    for part in _compress(template):
        tokens.extend([SLOT] if isinstance(part, _Slot) else tokenize(part))
    return tokens


def match(parts: Sequence[Part], text: str) -> list[str] | None:
    """The slot values of `text` under the template `parts` (compressed), or None if it does not fit."""
    values: list[str] = []
    position = 0
    pending_slot = False
    for index, part in enumerate(parts):
        if isinstance(part, _Slot):
            pending_slot = True
            continue
        is_last = index == len(parts) - 1
        if not pending_slot:
            if not text.startswith(part, position):
                return None
            found = position
        elif is_last:
            found = len(text) - len(part)
            if found < position or not text.endswith(part):
                return None
        else:
            found = text.find(part, position)
            if found < 0:
                return None
        if pending_slot:
            values.append(text[position:found])
            pending_slot = False
        position = found + len(part)
    if pending_slot:
        values.append(text[position:])
    elif position != len(text):
        return None
    return values


def _kind(values: Sequence[str]) -> str | None:
    present = [value.strip() for value in values if value.strip()]
    if not present:
        return None
    for kind, pattern in _KINDS:
        if all(pattern.match(value) for value in present):
            return kind
    return None


def _slots(columns: list[list[str]]) -> tuple[MinedSlot, ...]:
    kinds = [_kind(column) for column in columns]
    kind_counts = Counter(kind for kind in kinds if kind is not None)
    kind_seen: Counter[str] = Counter()
    slots: list[MinedSlot] = []
    for index, (column, kind) in enumerate(zip(columns, kinds, strict=True), start=1):
        if kind is None:
            name = f"slot_{index}"
        else:
            kind_seen[kind] += 1
            name = kind if kind_counts[kind] == 1 else f"{kind}_{kind_seen[kind]}"
        counts = Counter(column)
        ranked = sorted(counts, key=lambda value: (-counts[value], value))
        slots.append(
            MinedSlot(
                name=name,
                kind=kind,
                examples=tuple(value[:MAX_EXAMPLE_CHARS] for value in ranked[:MAX_EXAMPLES]),
                distinct_values=len(counts),
            )
        )
    return tuple(slots)


def _render(parts: Sequence[Part], slots: Sequence[MinedSlot]) -> str:
    names = iter(slot.name for slot in slots)
    return "".join("{{" + next(names) + "}}" if isinstance(part, _Slot) else part for part in parts)


def mine_templates(
    prompts: Sequence[str],
    *,
    max_templates: int = 5,
    sample_size: int = 256,
    min_similarity: float = 0.5,
    min_share: float = 0.01,
    checkpoint: Callable[[], None] = lambda: None,
) -> list[MinedTemplate]:
    """Templates explaining `prompts`, the one explaining most first. A template must explain at
    least two prompts and `min_share` of them; each prompt counts for the first template it fits.
    `checkpoint()` is called between steps; whatever it raises stops the mining."""
    if not prompts:
        return []
    frequency = Counter(prompts)
    unexplained = sorted(frequency, key=lambda text: (-frequency[text], text))
    total = len(prompts)
    mined: list[tuple[list[Part], list[list[str]], int]] = []
    while unexplained and len(mined) < max_templates:
        inducible = [text for text in unexplained if len(text) <= MAX_INDUCED_CHARS][:sample_size]
        if not inducible:
            break
        parts = _compress(_induce(inducible, min_similarity=min_similarity, checkpoint=checkpoint))
        matched = 0
        columns: list[list[str]] = [[] for part in parts if isinstance(part, _Slot)]
        left: list[str] = []
        for text in unexplained:
            checkpoint()
            values = match(parts, text)
            if values is None:
                left.append(text)
                continue
            matched += frequency[text]
            for column, value in zip(columns, values, strict=True):
                column.extend([value] * frequency[text])
        if matched < 2 or matched / total < min_share:
            break
        mined.append((parts, columns, matched))
        unexplained = left
    results = []
    for parts, columns, matched in mined:
        slots = _slots(columns)
        results.append(
            MinedTemplate(
                text=_render(parts, slots),
                constants=tuple(part for part in parts if isinstance(part, str)),
                slots=slots,
                matched=matched,
                coverage=matched / total,
            )
        )
    return sorted(results, key=lambda template: (-template.matched, template.text))
