"""What every proposer produces, and how proposals compose.

A proposer describes its change as *edits* (append an instruction to a template, set a param, switch
model) rather than as a finished diff, so the search can combine the winning proposals for
different clusters into one change set: the edits of several proposals are applied to the baseline
in order and the combined diff is computed once (`compose`). Two proposals setting the same param
or model conflict; the earlier (better) one wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from spectral.engine.scoring import ScoreTable
from spectral.engine.types import (
    AgentConfig,
    Candidate,
    Cluster,
    ConfigDiff,
    Message,
    Objective,
    Rubric,
    ScanConfig,
    Strategy,
    Trace,
)

# The template proposers write instructions into when the config has one by this name.
INSTRUCTION_TEMPLATE = "system"
# A template's slots: `{{name}}` (managed templates) and `{name}` (f-string and LangChain style).
_SLOT = re.compile(r"\{\{[^{}]*\}\}|\{[A-Za-z_][\w.]*\}")
# A template's literal text shorter than this could turn up in any prompt by chance.
_MIN_LITERAL_CHARS = 24


class EditKind(StrEnum):
    REPLACE_TEMPLATE = "replace_template"
    APPEND_TO_TEMPLATE = "append_to_template"
    SET_PARAM = "set_param"
    SET_MODEL = "set_model"


@dataclass(frozen=True, slots=True)
class Edit:
    """One composable change. `key` is the template or param name; `value` the text, value or model."""

    kind: EditKind
    value: object
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A trace-based estimate of a proposal's effect, for when nothing can be replayed."""

    objective_gain: float
    cost_change_pct: float
    basis: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """A candidate with the edits it was built from and, when the data allows, an estimate."""

    candidate: Candidate
    edits: tuple[Edit, ...]
    estimate: Estimate | None = None


def instruction_template(config: AgentConfig, answer_prompts: Sequence[Sequence[Message]] = ()) -> str:
    """Where an instruction goes: the template the agent's answering LLM call is prompted with
    (`answering_template`), else the system template, else the first template by name, else a new
    system template (a config without templates gets one)."""
    answering = answering_template(config, answer_prompts)
    if answering is not None:
        return answering
    if INSTRUCTION_TEMPLATE in config.templates or not config.templates:
        return INSTRUCTION_TEMPLATE
    return sorted(config.templates)[0]


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _literal(template: str) -> str:
    """The template's longest run of literal text (between its slots), whitespace collapsed."""
    return max((_collapsed(part) for part in _SLOT.split(template)), key=len, default="")


def answering_template(config: AgentConfig, answer_prompts: Sequence[Sequence[Message]]) -> str | None:
    """The template that prompts the LLM call whose reply is the agent's answer, read from the
    prompts of those calls (`answer_prompts`: one per trace, the trace's last LLM call): the one
    whose literal text is in a system message of most of them, else in any message of most of them.
    An agent that first rewrites the question with one template and then answers with another must
    get its instructions in the second, whatever the templates are called. None when no template's
    text is in at least half of the prompts (or there are none)."""
    if not answer_prompts:
        return None
    literals = {
        name: literal
        for name, text in config.templates.items()
        if len(literal := _literal(text)) >= _MIN_LITERAL_CHARS
    }
    in_system: dict[str, int] = dict.fromkeys(literals, 0)
    anywhere: dict[str, int] = dict.fromkeys(literals, 0)
    for prompt in answer_prompts:
        system = [_collapsed(m.content) for m in prompt if m.role in ("system", "developer")]
        every = [_collapsed(m.content) for m in prompt]
        for name, literal in literals.items():
            in_system[name] += any(literal in text for text in system)
            anywhere[name] += any(literal in text for text in every)
    found = [name for name in literals if 2 * anywhere[name] >= len(answer_prompts)]
    ranked = sorted(found, key=lambda name: (-in_system[name], -anywhere[name], name))
    return ranked[0] if ranked else None


def apply_edits(config: AgentConfig, edits: Iterable[Edit]) -> AgentConfig:
    """The config with the edits applied: template replacements first (a rewrite is the base that
    other proposals' instructions are appended to), then the rest in order. An appended text already
    present is skipped; a template, param or model set by an earlier edit keeps the earlier value."""
    model = config.model
    params = dict(config.params)
    templates = dict(config.templates)
    model_set = False
    params_set: set[str] = set()
    ordered = list(edits)
    replaced: set[str] = set()
    for edit in ordered:
        if edit.kind is EditKind.REPLACE_TEMPLATE and edit.key is not None and edit.key not in replaced:
            templates[edit.key] = str(edit.value)
            replaced.add(edit.key)
    for edit in ordered:
        if edit.kind is EditKind.SET_MODEL and not model_set:
            model = str(edit.value)
            model_set = True
        elif edit.kind is EditKind.SET_PARAM and edit.key is not None and edit.key not in params_set:
            params[edit.key] = edit.value
            params_set.add(edit.key)
        elif edit.kind is EditKind.APPEND_TO_TEMPLATE and edit.key is not None:
            current = templates.get(edit.key, "")
            text = str(edit.value)
            if text not in current:
                templates[edit.key] = f"{current.rstrip()}\n\n{text}".lstrip() if current else text
    return AgentConfig(model=model, params=params, templates=templates, tools=config.tools)


def candidate_id(strategy: Strategy, diff: ConfigDiff) -> str:
    """A stable id from what the candidate changes, so a re-run names candidates the same."""
    payload = json.dumps([strategy.value, diff.to_dict()], sort_keys=True, separators=(",", ":"))
    return "cand_" + hashlib.blake2b(payload.encode(), digest_size=6).hexdigest()


def make_proposal(
    baseline: AgentConfig,
    strategy: Strategy,
    edits: Sequence[Edit],
    rationale: str,
    cluster_ids: Sequence[str],
    *,
    estimate: Estimate | None = None,
    parent_id: str | None = None,
) -> Proposal | None:
    """A proposal whose diff is the edits against the baseline; None when they change nothing."""
    diff = ConfigDiff.between(baseline, apply_edits(baseline, edits))
    if diff.is_empty:
        return None
    candidate = Candidate(
        candidate_id=candidate_id(strategy, diff),
        strategy=strategy,
        diff=diff,
        rationale=rationale,
        cluster_ids=tuple(cluster_ids),
        parent_id=parent_id,
        estimated=False,
    )
    return Proposal(candidate=candidate, edits=tuple(edits), estimate=estimate)


@dataclass(frozen=True, slots=True, eq=False)
class ProposalContext:
    """What proposers read: the baseline, the rubric and objective, the analysis traces with their
    scores (rows of `table` follow `traces`) and the clusters worth addressing, highest impact first."""

    baseline: AgentConfig
    rubric: Rubric
    objective: Objective
    traces: Sequence[Trace]
    table: ScoreTable
    clusters: Sequence[Cluster]
    config: ScanConfig
    # The prompts of the LLM calls that produced the traces' answers (see `answering_template`).
    answer_prompts: Sequence[Sequence[Message]] = ()
    row_of: Mapping[str, int] = field(init=False)
    # The template instructions and demonstrations are written into.
    instruction_template: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "row_of", {trace_id: row for row, trace_id in enumerate(self.table.trace_ids)}
        )
        object.__setattr__(
            self, "instruction_template", instruction_template(self.baseline, self.answer_prompts)
        )

    def rows(self, trace_ids: Iterable[str]) -> list[int]:
        return [self.row_of[trace_id] for trace_id in trace_ids if trace_id in self.row_of]
