"""The deterministic offline planner, and the intent rules both planners share.

Without a model the assistant maps a request to tools by intent: keywords, and entity references
(ids, 32-hex trace ids, agent slugs, time windows) found in the user's own words, then answers from
the tools' templates. The same `requested_actions` decides, for the model planner too, which
actions a message may propose: only the user's own message can ask for an action, never a tool
result (trace text is data), so a trace that says "accept all change sets" proposes nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from spectral.platform.agents.schemas import AgentRead
from spectral.platform.assistant.tools import (
    TOOLS,
    ActionTool,
    AgentArg,
    AutonomyArgs,
    BriefingArgs,
    ChangeSetArg,
    ChangeSetListArgs,
    CompareArgs,
    NoArgs,
    ReadTool,
    RejectArgs,
    ScanArg,
    ScanListArgs,
    StartScanArgs,
    ToolContext,
    ToolOutput,
    TraceArg,
    TraceSearchArgs,
    VersionDiffArgs,
    all_agents,
    require,
)
from spectral.platform.changesets.lifecycle import ChangeSetStatus
from spectral.platform.shared.errors import DomainError
from spectral.platform.workspaces.schemas import AutonomyLevel

# An action is asked for by a verb the user wrote, in the user's own message.
ACTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "start_scan": re.compile(r"\b(start|run|launch|kick off|begin|trigger)\b[^.?!]*\bscan\b", re.I),
    "accept_changeset": re.compile(r"\baccept\b", re.I),
    "reject_changeset": re.compile(r"\breject\b", re.I),
    "rollback_changeset": re.compile(r"\broll\s?back\b|\brevert\b", re.I),
    "run_validation": re.compile(r"\bvalidate\b|\b(run|start)\b[^.?!]*\bvalidation\b", re.I),
    "set_autonomy": re.compile(
        r"\b(set|change|switch|move|put)\b[^.?!]*\bautonomy\b|\bautonomy\b[^.?!]*\bto\b", re.I
    ),
}
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_VERSIONS = re.compile(r"\bversions?\s+(\d{1,6})(?:\s*(?:to|and|vs\.?|->|with)\s*(?:version\s+)?(\d{1,6}))?")
_TRACE_ID = re.compile(r"\b[0-9a-f]{32}\b", re.I)
_LEVELS = {
    "auto_apply": AutonomyLevel.AUTO_APPLY,
    "auto-apply": AutonomyLevel.AUTO_APPLY,
    "auto apply": AutonomyLevel.AUTO_APPLY,
    "observe": AutonomyLevel.OBSERVE,
    "suggest": AutonomyLevel.SUGGEST,
}


# "don't accept …", "never roll back …": a verb the user negated asks for nothing.
_NEGATED = re.compile(r"\b(don'?t|do not|never|not|no need to)\s+(\w+\s+)?$", re.I)


def requested_actions(text: str) -> set[str]:
    return {
        name
        for name, pattern in ACTION_PATTERNS.items()
        if any(not _NEGATED.search(text[: m.start()]) for m in pattern.finditer(text))
    }


def mentioned_ids(text: str) -> list[uuid.UUID]:
    return list(dict.fromkeys(uuid.UUID(m) for m in _UUID.findall(text)))


def action_allowed(tool: ActionTool, arguments: BaseModel, user_text: str) -> str | None:
    """None when the user's own message asks for this action on these entities, else why not."""
    if tool.name not in requested_actions(user_text):
        return f"the user's message does not ask to {tool.name.replace('_', ' ')}"
    named = set(mentioned_ids(user_text))
    target = getattr(arguments, "changeset_id", None)
    if named and target is not None and target not in named:
        return f"the user named {', '.join(map(str, sorted(named, key=str)))}, not {target}"
    return None


def window_hours(text: str, default: int = 24) -> int:
    lowered = text.lower()
    if m := re.search(r"\blast (\d{1,3}) days?\b", lowered):
        return int(m.group(1)) * 24
    if m := re.search(r"\blast (\d{1,4}) hours?\b", lowered):
        return int(m.group(1))
    if "last week" in lowered or "past week" in lowered:
        return 7 * 24
    if "last month" in lowered or "past month" in lowered:
        return 30 * 24
    if "yesterday" in lowered or "today" in lowered:
        return 24
    return default


def mentioned_agents(text: str, agents: list[AgentRead]) -> list[AgentRead]:
    lowered = text.lower()
    return [
        a
        for a in agents
        if re.search(rf"(?<![\w-]){re.escape(a.slug.lower())}(?![\w-])", lowered)
        or a.name.lower() in lowered
        or str(a.id) in lowered
    ]


@dataclass(slots=True)
class ProposedAction:
    tool: ActionTool
    arguments: BaseModel
    reason: str


@dataclass(slots=True)
class PlanResult:
    planner: str
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    actions: list[ProposedAction] = field(default_factory=list)
    tokens: int = 0


async def run_read_tool(
    ctx: ToolContext, tool: ReadTool, arguments: BaseModel, calls: list[dict[str, Any]]
) -> ToolOutput | str:
    """The tool's output, or the reason it failed (a domain error the answer reports)."""
    record: dict[str, Any] = {"tool": tool.name, "arguments": arguments.model_dump(mode="json")}
    calls.append(record)
    try:
        require(ctx.principal, tool.scope)
        return await tool.run(ctx, arguments)
    except DomainError as exc:
        record["error"] = exc.detail
        return exc.detail


def _read(name: str) -> ReadTool:
    tool = TOOLS[name]
    assert isinstance(tool, ReadTool)
    return tool


def _action(name: str) -> ActionTool:
    tool = TOOLS[name]
    assert isinstance(tool, ActionTool)
    return tool


class OfflinePlanner:
    """Intent rules, in the order a person would ask; each adds tools, then the answer is their
    sentences, and the actions asked for become proposals."""

    def __init__(self, ctx: ToolContext, text: str) -> None:
        self.ctx = ctx
        self.text = text
        self.lowered = text.lower()
        self.lines: list[str] = []
        self.citations: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.actions: list[ProposedAction] = []

    def _has(self, *words: str) -> bool:
        return any(re.search(rf"\b{re.escape(w)}", self.lowered) for w in words)

    async def _use(self, name: str, arguments: BaseModel) -> ToolOutput | None:
        output = await run_read_tool(self.ctx, _read(name), arguments, self.calls)
        if isinstance(output, str):
            self.lines.append(f"I could not run {name}: {output}.")
            return None
        self.lines.append(output.text)
        self.citations.extend(c for c in output.citations if c not in self.citations)
        return output

    def _propose(self, name: str, arguments: BaseModel) -> None:
        self.actions.append(ProposedAction(_action(name), arguments, f'You asked: "{self.text[:500]}"'))

    async def plan(self) -> PlanResult:
        agents = await all_agents(self.ctx)
        named_agents = mentioned_agents(self.text, agents)
        agent = named_agents[0] if named_agents else (agents[0] if len(agents) == 1 else None)
        hours = window_hours(self.text)
        ids = mentioned_ids(self.text)
        asked = requested_actions(self.text)

        await self._plan_actions(asked, agent, agents, ids, hours)
        if not asked:
            await self._plan_reads(agent if named_agents else None, ids, hours)
        return PlanResult(
            planner="offline",
            text="\n".join(self.lines),
            citations=self.citations,
            tool_calls=self.calls,
            actions=self.actions,
        )

    async def _changeset_targets(self, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        if ids:
            return ids
        # "accept the recommended change": the longest-waiting recommended proposal.
        listed = await self._use("list_changesets", ChangeSetListArgs(status=ChangeSetStatus.PROPOSED))
        if listed is None:
            return []
        recommended = [c for c in listed.data["changesets"] if c["verdict"] == "recommend"]
        if not recommended:
            self.lines.append("No proposed change set is recommended; name the one you mean by its id.")
            return []
        return [uuid.UUID(recommended[-1]["id"])]

    async def _plan_actions(
        self,
        asked: set[str],
        agent: AgentRead | None,
        agents: list[AgentRead],
        ids: list[uuid.UUID],
        hours: int,
    ) -> None:
        if "start_scan" in asked:
            if agent is None:
                slugs = ", ".join(a.slug for a in agents) or "none yet"
                self.lines.append(f"Which agent should I scan? Agents: {slugs}.")
            else:
                # A scan without a window named in the message takes the last week (the tool's default).
                days = max(1, window_hours(self.text, default=7 * 24) // 24)
                self._propose("start_scan", StartScanArgs(agent=agent.slug, days=days))
        for name in ("accept_changeset", "rollback_changeset", "run_validation"):
            if name in asked:
                for changeset_id in await self._changeset_targets(ids):
                    self._propose(name, ChangeSetArg(changeset_id=changeset_id))
        if "reject_changeset" in asked:
            match = re.search(r"\b(?:because|reason:?)\s+(.+)", self.text, re.I | re.S)
            reason = (match.group(1) if match else f"Rejected through the assistant: {self.text}")[:2000]
            for changeset_id in await self._changeset_targets(ids):
                self._propose("reject_changeset", RejectArgs(changeset_id=changeset_id, reason=reason))
        if "set_autonomy" in asked:
            level = next((lvl for word, lvl in _LEVELS.items() if word in self.lowered), None)
            if level is None:
                self.lines.append("Which autonomy level: observe, suggest or auto_apply?")
            else:
                self._propose("set_autonomy", AutonomyArgs(level=level))

    async def _plan_reads(self, agent: AgentRead | None, ids: list[uuid.UUID], hours: int) -> None:
        slug = None if agent is None else agent.slug
        used = len(self.calls)
        if self._has("what should i do", "next step", "next action", "what now", "today"):
            await self._use("next_action", NoArgs())
            await self._use("morning_briefing", BriefingArgs(hours=min(hours, 24 * 30)))
        if self._has("why", "drop", "yesterday", "briefing", "happened", "worse"):
            await self._use("morning_briefing", BriefingArgs(hours=min(hours, 24 * 30)))
            await self._use("search_traces", TraceSearchArgs(agent=slug, status="error", hours=hours))
        elif self._has("fail", "error", "wrong", "broken", "problem"):
            await self._use("search_traces", TraceSearchArgs(agent=slug, status="error", hours=hours))
            await self._use("failures", NoArgs())
        if self._has("compare") and len(ids) >= 2:
            await self._use("compare_changesets", CompareArgs(first=ids[0], second=ids[1]))
            ids = ids[2:]
        for trace_id in dict.fromkeys(m.lower() for m in _TRACE_ID.findall(self.text)):
            await self._use("get_trace", TraceArg(trace_id=trace_id))
        for found in ids:
            if self._has("scan"):
                await self._use("scan_report", ScanArg(scan_id=found))
            elif self._has("cluster"):
                await self._use("list_clusters", ChangeSetArg(changeset_id=found))
            else:
                await self._use("get_changeset", ChangeSetArg(changeset_id=found))
        if not ids:
            if self._has("scans") or (self._has("scan") and not self._has("changeset", "change set")):
                await self._use("list_scans", ScanListArgs(agent=slug))
            if self._has("changeset", "change set", "change-set", "proposal"):
                await self._use("list_changesets", ChangeSetListArgs(agent=slug))
        if self._has("config") and agent is not None:
            await self._use("agent_config", AgentArg(agent=agent.slug))
            if m := _VERSIONS.search(self.lowered):
                to = int(m.group(2)) if m.group(2) else None
                diff = VersionDiffArgs(agent=agent.slug, from_version=int(m.group(1)), to_version=to)
                await self._use("config_diff", diff)
        if self._has("agents"):
            await self._use("list_agents", NoArgs())
        if self._has("autonomy", "supervisor", "guardrail"):
            await self._use("supervisor_state", NoArgs())
        if self._has("stats", "how many", "traffic", "volume", "cost", "quality"):
            await self._use("trace_stats", BriefingArgs())
        if len(self.calls) == used:
            await self._use("trace_stats", BriefingArgs())
            await self._use("next_action", NoArgs())
            self.lines.append(
                "I can answer from this workspace's traces, scans, change sets, failures and briefing, "
                "and prepare actions (start a scan, accept, reject or roll back a change set, run a "
                "validation, change autonomy) for a human to approve."
            )


def parse_arguments(tool: ReadTool | ActionTool, raw: dict[str, Any] | None) -> BaseModel | str:
    if raw is None:
        return "arguments must be a JSON object"
    try:
        return tool.arguments.model_validate(raw)
    except ValidationError as exc:
        return "invalid arguments: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
