"""The intent rules both planners share: which actions a user's own words ask for, and the
entities and windows they name."""

from __future__ import annotations

import uuid

import pytest

from spectral.platform.assistant.planner import (
    ACTION_PATTERNS,
    mentioned_ids,
    requested_actions,
    window_hours,
)
from spectral.platform.assistant.tools import ACTION_TOOLS


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        ("Start a scan of support-bot on last week's traces", {"start_scan"}),
        ("please run a new scan for billing-bot", {"start_scan"}),
        ("Accept the recommended change", {"accept_changeset"}),
        ("reject 3f1c… because it is noise", {"reject_changeset"}),
        ("Roll back the change from yesterday", {"rollback_changeset"}),
        ("rollback it", {"rollback_changeset"}),
        ("validate the change set again", {"run_validation"}),
        ("run a validation of it", {"run_validation"}),
        ("set autonomy to suggest", {"set_autonomy"}),
        ("What is failing for support-bot?", set()),
        ("Show me the last scan's report", set()),
        ("What does the validation say?", set()),
        ("Why did quality drop yesterday?", set()),
        ("Don't accept anything yet", set()),
        ("do not roll back, just show me the diff", set()),
        ("Never start a scan at night", set()),
    ],
)
def test_actions_come_from_the_verbs_the_user_wrote(text: str, actions: set[str]) -> None:
    assert requested_actions(text) == actions


def test_every_action_tool_has_an_intent_rule() -> None:
    assert {tool.name for tool in ACTION_TOOLS} == set(ACTION_PATTERNS)


def test_ids_are_found_once_in_order() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert mentioned_ids(f"compare {a} with {b}, and {a} again") == [a, b]
    assert mentioned_ids("no ids here, just 0af7651916cd43dd8448eb211c80319c") == []


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("what failed in the last 3 days", 72),
        ("errors in the last 6 hours", 6),
        ("scan last week's traces", 168),
        ("the past month", 720),
        ("why did quality drop yesterday", 24),
        ("what is failing", 24),
    ],
)
def test_windows(text: str, hours: int) -> None:
    assert window_hours(text) == hours
