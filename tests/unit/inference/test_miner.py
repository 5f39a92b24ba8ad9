"""Template mining recovers known templates from generated prompts: constant parts exact, slots
at the right places, named by the kind of value they hold; deterministic and fast."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from spectral.platform.inference.miner import MAX_INDUCED_CHARS, mine_templates, tokenize

WORDS = [
    "the",
    "moon",
    "is",
    "made",
    "of",
    "cheese",
    "water",
    "boils",
    "at",
    "sea",
    "level",
    "vaccines",
    "cause",
    "nothing",
    "bad",
    "coffee",
    "stunts",
    "growth",
    "bats",
    "are",
    "blind",
    "goldfish",
    "remember",
    "for",
    "months",
    "lightning",
    "never",
    "strikes",
    "twice",
    "great",
    "wall",
    "visible",
    "from",
    "space",
    "humans",
    "use",
    "ten",
    "percent",
    "of",
    "brains",
]


DOMAINS = ["example.com", "acme.org", "mail.example.net"]


def _claim(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))).capitalize()


def _support_prompts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(n):
        prompts.append(
            "You are a support agent for Acme.\n"
            f"Customer: {rng.choice(['ada', 'bob', 'cy'])}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}\n"
            f"Order: {uuid.UUID(int=rng.getrandbits(128))}\n"
            f"Amount due: {rng.randint(1, 5000)}.{rng.randint(10, 99)} USD\n"
            f"Question: {_claim(rng)}?\n"
            "Answer politely in JSON."
        )
    return prompts


def test_tokens_rebuild_the_text() -> None:
    text = "Check: {{claim}} — 12.5% of\tusers\n\nsaid 'no'!"
    assert "".join(tokenize(text)) == text


def test_recovers_a_known_template_with_named_slots() -> None:
    prompts = _support_prompts(2000)
    [template] = mine_templates(prompts)
    assert template.text == (
        "You are a support agent for Acme.\n"
        "Customer: {{email}}\n"
        "Order: {{id}}\n"
        "Amount due: {{number}} USD\n"
        "Question: {{slot_4}}?\n"
        "Answer politely in JSON."
    )
    assert template.constants[0] == "You are a support agent for Acme.\nCustomer: "
    assert template.coverage == 1.0
    assert template.matched == 2000
    assert [slot.kind for slot in template.slots] == ["email", "id", "number", None]
    assert all(len(slot.examples) == 5 for slot in template.slots)
    assert all("@" in example for example in template.slots[0].examples)


def test_slots_in_free_text_and_at_both_ends() -> None:
    rng = random.Random(3)
    prompts = [f"{_claim(rng)} -- fact check this claim: {_claim(rng)}" for _ in range(500)]
    [template] = mine_templates(prompts)
    assert template.text == "{{slot_1}} -- fact check this claim: {{slot_2}}"
    assert template.coverage == 1.0


def test_separates_two_templates_and_reports_coverage() -> None:
    rng = random.Random(11)
    summaries = [
        f"Summarise the ticket {rng.randint(1000, 9999)} for the on-call engineer." for _ in range(300)
    ]
    checks = [f"Check this claim carefully: {_claim(rng)}" for _ in range(100)]
    noise = ["hello", "completely unrelated prompt"]
    prompts = summaries + checks + noise
    rng.shuffle(prompts)
    templates = mine_templates(prompts)
    assert [t.text for t in templates] == [
        "Summarise the ticket {{number}} for the on-call engineer.",
        "Check this claim carefully: {{slot_1}}",
    ]
    assert [t.matched for t in templates] == [300, 100]
    assert abs(templates[0].coverage - 300 / 402) < 1e-9


def test_identical_prompts_are_a_template_without_slots() -> None:
    [template] = mine_templates(["Say hi."] * 10)
    assert (template.text, template.slots, template.coverage) == ("Say hi.", (), 1.0)
    assert mine_templates([]) == []
    assert mine_templates(["only one"]) == []


def test_deterministic_regardless_of_order() -> None:
    prompts = _support_prompts(300, seed=5)
    shuffled = list(prompts)
    random.Random(1).shuffle(shuffled)
    assert mine_templates(prompts) == mine_templates(shuffled)


def test_ten_thousand_prompts_in_seconds() -> None:
    prompts = _support_prompts(10_000, seed=9)
    started = time.perf_counter()
    [template] = mine_templates(prompts)
    elapsed = time.perf_counter() - started
    assert template.coverage == 1.0
    assert elapsed < 5.0, elapsed


class _Stop(Exception):
    pass


def test_the_checkpoint_is_called_between_alignments_and_can_stop_the_mining() -> None:
    """Prompts that share little cost quadratic time to align (300 unrelated 500-word prompts took
    25 s): the caller's checkpoint runs between steps, so a time limit stops the work there."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(500)]
    prompts = [" ".join(rng.choice(words) for _ in range(50)) for _ in range(20)]
    calls = 0

    def checkpoint() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise _Stop

    with pytest.raises(_Stop):
        mine_templates(prompts, checkpoint=checkpoint)
    assert calls == 3


def test_a_prompt_too_long_to_align_is_matched_but_does_not_shape_the_template() -> None:
    long = "Hi " + "x" * MAX_INDUCED_CHARS + ", bye"
    [template] = mine_templates(["Hi Ada, bye", "Hi Bo, bye", long])
    assert template.text == "Hi {{slot_1}}, bye"
    assert template.matched == 3
    assert mine_templates([long, long + "!"]) == []
