"""Failure clustering: causes, signatures, text splits, determinism, filing new failures."""

from collections import Counter

import numpy as np

from spectral.engine.clustering import Failure, cluster_failures, cluster_texts, find_failures, normalise_text
from spectral.engine.scoring import objective_scales_from, score_traces
from spectral.engine.synthetic import (
    FailureMode,
    baseline_config,
    generate_workspace,
    support_objective,
    support_rubric,
)
from spectral.engine.types import (
    CauseCategory,
    ReplayInput,
    ReplayResult,
    Span,
    ToolCall,
    Trace,
    TraceStatus,
)


def _diagnose(seed: int, n: int = 2000):
    workspace = generate_workspace(seed, n)
    table = score_traces(
        workspace.traces, workspace.rubric, workspace.objective, objective_scales_from(workspace.traces)
    )
    reference = float(np.median(table.objective[~table.failed]))
    failures = find_failures(workspace.traces, table, workspace.rubric, reference_objective=reference)
    return workspace, failures, cluster_failures(failures, n_traces=n, seed=seed, min_cluster_size=5)


def test_normalise_text_masks_ids_and_numbers() -> None:
    assert normalise_text("Order 1234 not found") == normalise_text("order 98 not found")


def test_cluster_texts_separates_distinct_error_messages() -> None:
    texts = [f"invalid order_id '#{n}': expected 'ORD-' followed by 5 digits" for n in range(40)]
    texts += [f"timeout after {n} ms calling the carrier" for n in range(40)]
    labels, _, _ = cluster_texts(texts, seed=1)
    assert len(set(labels[:40])) == 1
    assert len(set(labels[40:])) == 1
    assert labels[0] != labels[40]


def test_each_planted_mode_lands_in_one_pure_cluster() -> None:
    workspace, _, diagnosis = _diagnose(3)
    for mode in workspace.modes:
        ids = set(workspace.mode_trace_ids(mode))
        best = max(diagnosis.clusters, key=lambda c: len(ids & set(c.trace_ids)))
        held = len(ids & set(best.trace_ids))
        assert held >= 0.8 * len(ids), mode
        assert held >= 0.8 * best.size, mode


def test_upstream_causes_win_and_the_model_does_not_split_modes() -> None:
    workspace, failures, diagnosis = _diagnose(4)
    by_id = {f.trace_id: f for f in failures}
    truncated = [by_id[t] for t in workspace.mode_trace_ids(FailureMode.TRUNCATION) if t in by_id]
    assert {f.cause for f in truncated} == {CauseCategory.TRUNCATION}
    format_traces = set(workspace.mode_trace_ids(FailureMode.FORMAT))
    format_cluster = max(diagnosis.clusters, key=lambda c: len(format_traces & set(c.trace_ids)))
    models = Counter(t.model for t in workspace.traces if t.trace_id in set(format_cluster.trace_ids))
    assert len(models) > 1
    assert all(key != "model" for key, _ in format_cluster.signature)


def test_clusters_are_ranked_by_impact_and_carry_explanations() -> None:
    _, _, diagnosis = _diagnose(5)
    impacts = [c.impact for c in diagnosis.clusters]
    assert impacts == sorted(impacts, reverse=True)
    top = diagnosis.clusters[0]
    assert top.label
    assert top.exemplar_trace_ids
    assert set(top.exemplar_trace_ids) <= set(top.trace_ids)
    assert 0 < top.share < 1


def test_clustering_is_deterministic() -> None:
    _, failures, first = _diagnose(6)
    second = cluster_failures(list(reversed(failures)), n_traces=2000, seed=6, min_cluster_size=5)
    assert [c.to_dict() for c in first.clusters] == [c.to_dict() for c in second.clusters]


def test_assign_files_failures_into_known_clusters() -> None:
    _, failures, diagnosis = _diagnose(7)
    assigned = diagnosis.assign(failures)
    home = {t: c.cluster_id for c in diagnosis.clusters for t in c.trace_ids}
    agreement = sum(1 for f, a in zip(failures, assigned, strict=True) if home[f.trace_id] == a)
    assert agreement >= 0.95 * len(failures)
    unknown = Failure("x", CauseCategory.OTHER, (("cause", "other"), ("dimension", "nope")), "boom", 1.0, ())
    assert diagnosis.assign([unknown]) == [None]


def test_kin_are_the_text_split_siblings_of_one_signature() -> None:
    signature = (("cause", "tool_error"), ("dimension", "tools_ok"), ("tool", "search_flights"))
    months = ("January", "March")
    failures = [
        Failure(f"{month}-{n}", CauseCategory.TOOL_ERROR, signature, f"invalid date '{month} {n}'", 1.0, ())
        for month in months
        for n in range(1, 13)
    ]
    other = (("cause", "refusal"), ("dimension", "no_refusal"))
    failures += [Failure(f"r{n}", CauseCategory.REFUSAL, other, "I can't help", 1.0, ()) for n in range(8)]
    diagnosis = cluster_failures(failures, n_traces=1000, seed=1, min_cluster_size=5)
    by_trace = {t: c.cluster_id for c in diagnosis.clusters for t in c.trace_ids}
    january, march, refusal = by_trace["January-1"], by_trace["March-1"], by_trace["r0"]
    assert january != march, "the dates split one tool error into two clusters"
    assert diagnosis.kin([january]) == {january, march}
    assert diagnosis.kin([refusal]) == {refusal}
    assert diagnosis.kin([]) == set()


def test_a_replay_of_a_recorded_tool_failure_files_into_its_cluster() -> None:
    """Ingest gives a trace whose tool span failed the trace's error status and a generic error type;
    a replay reports the same failure in its tool call and no error of its own. Both are the same
    failure mode, so the holdout's replays must land in the cluster the recorded traces made
    (else a fix of it can never be shown to fix its cluster)."""
    rubric, objective = support_rubric(), support_objective()
    error = "invalid order_id 'A-{n}': expected 'ORD-' followed by 5 digits"
    recorded = [
        Trace(
            trace_id=f"t{n}",
            input=f"where is order A-{n}?",
            output="I could not find that order.",
            status=TraceStatus.ERROR,
            error_type="error",
            spans=(
                Span(
                    span_id=f"s{n}",
                    name="lookup_order",
                    kind="tool",
                    status=TraceStatus.ERROR,
                    error_type="error",
                    error_message=error.format(n=n),
                ),
            ),
        )
        for n in range(30)
    ]
    replayed = [
        ReplayResult(
            output="I could not find that order.",
            tool_calls=(ToolCall("lookup_order", {"order_id": f"A-{n}"}, error.format(n=n)),),
        ).to_trace(ReplayInput(trace.input, trace_id=trace.trace_id), baseline_config(), trace_id=f"r{n}")
        for n, trace in enumerate(recorded)
    ]

    def failures_of(traces: list[Trace]) -> list[Failure]:
        table = score_traces(traces, rubric, objective, objective_scales_from(traces))
        return find_failures(traces, table, rubric, reference_objective=1.0)

    diagnosis = cluster_failures(failures_of(recorded), n_traces=100, seed=1, min_cluster_size=5)
    (cluster,) = [c for c in diagnosis.clusters if ("tool", "lookup_order") in c.signature]
    assert diagnosis.assign(failures_of(replayed)) == [cluster.cluster_id] * len(replayed)
