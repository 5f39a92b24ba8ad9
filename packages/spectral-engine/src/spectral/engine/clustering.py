"""Diagnose: group failing traces into clusters with one likely cause each.

A failure is a trace that fails a rubric dimension or violates a constraint. Each failure gets a
*primary cause*: when a trace fails several dimensions, the most upstream cause explains the others
(a truncated answer is also invalid JSON; a failed tool call also produces a wrong answer), so it is
filed under the upstream one. The precedence is `_CAUSE_PRECEDENCE`.

Clustering has two stages:

1. **Signature**: cause, the failing dimension, the error type, the failing tool and the finish
   reason. The model is deliberately *not* part of the key for quality failures: a prompt-level
   failure mode usually shows on every model the agent uses, and splitting it per model would hide
   its size. It is part of the key for cost and latency failures, which are properties of a model.
2. **Text**: for errors and wrong answers (`_TEXT_SPLIT_CAUSES`), failures of one signature are
   split by the TF-IDF cosine similarity of the text that shows *how* they failed (the error
   message for errors, the scorer's reason and the output otherwise): leader clustering over a seeded sample makes micro-clusters, average-linkage
   agglomeration merges them while they stay similar, and every failure then joins its nearest
   centroid. Clusters smaller than `min_cluster_size` are folded into the nearest cluster of their
   signature, so the report is not a long tail of singletons.

Everything is deterministic for a given seed: samples and orders come from keyed hashes and
`numpy.random.default_rng(seed)`, never from Python's salted `hash`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spectral.engine.scoring.evaluation import ScoreTable
from spectral.engine.scoring.objective import (
    VIOLATION_COST,
    VIOLATION_LATENCY,
    VIOLATION_MIN_DIMENSION_PREFIX,
)
from spectral.engine.scoring.scorers import TRUNCATED_FINISH_REASONS
from spectral.engine.types import (
    CauseCategory,
    Cluster,
    Rubric,
    ScorerType,
    Trace,
    TraceStatus,
)

FloatMatrix = npt.NDArray[np.float32]

# Upstream causes first: the earlier cause explains the later symptoms on the same trace.
_CAUSE_PRECEDENCE: tuple[CauseCategory, ...] = (
    CauseCategory.TOOL_ERROR,
    CauseCategory.TRUNCATION,
    CauseCategory.REFUSAL,
    CauseCategory.OTHER,  # an agent error (exception, provider failure)
    CauseCategory.FORMAT,
    CauseCategory.MISMATCH,
    CauseCategory.LATENCY,
    CauseCategory.COST,
)
_CAUSE_RANK = {cause: rank for rank, cause in enumerate(_CAUSE_PRECEDENCE)}

_SCORER_CAUSE: Mapping[ScorerType, CauseCategory] = {
    ScorerType.TOOL_SUCCESS: CauseCategory.TOOL_ERROR,
    ScorerType.NOT_TRUNCATED: CauseCategory.TRUNCATION,
    ScorerType.NO_REFUSAL: CauseCategory.REFUSAL,
    ScorerType.NO_ERROR: CauseCategory.OTHER,
    ScorerType.REGEX: CauseCategory.FORMAT,
    ScorerType.JSON_VALID: CauseCategory.FORMAT,
    ScorerType.JSON_SCHEMA: CauseCategory.FORMAT,
    ScorerType.LENGTH: CauseCategory.FORMAT,
    ScorerType.CONTAINS: CauseCategory.MISMATCH,
    ScorerType.NOT_CONTAINS: CauseCategory.MISMATCH,
    ScorerType.EXACT_MATCH: CauseCategory.MISMATCH,
    ScorerType.SIMILARITY: CauseCategory.MISMATCH,
    ScorerType.FEEDBACK: CauseCategory.MISMATCH,
    ScorerType.LLM_JUDGE: CauseCategory.MISMATCH,
    ScorerType.LATENCY_MAX_MS: CauseCategory.LATENCY,
    ScorerType.COST_MAX_USD: CauseCategory.COST,
}

# Causes whose text tells failure modes apart: different error messages are different bugs, and a
# wrong answer is characterised by what it says. For format, truncation, refusal, cost and latency the
# signature already names the failure; their texts differ by topic, which would split one failure mode
# (one fix) into one cluster per topic.
_TEXT_SPLIT_CAUSES = frozenset({CauseCategory.TOOL_ERROR, CauseCategory.OTHER, CauseCategory.MISMATCH})

# Text clustering parameters, tuned on the planted-failure benchmark (bench/scan_quality.py).
_MAX_VOCABULARY = 2048
_FIT_SAMPLE = 2000  # unique texts per signature used to find the clusters; the rest are assigned
_LEADER_SIMILARITY = 0.6  # a text starts a new micro-cluster below this cosine to every leader
_MAX_LEADERS = 256
_MERGE_SIMILARITY = 0.5  # clusters merge while their centroids are at least this similar
_ASSIGN_CHUNK = 4096
_TEXT_CHARS = 600
_EXEMPLARS = 5
_TOP_TERMS = 5

_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"  # hex ids
    r"|\d+(?:[.,]\d+)*"  # numbers
)
_WORD = re.compile(r"[^\W\d][\w'-]*")
_STOPWORD_TEXT = """a an and are as at be but by for from has have i in is it its of on or that the this to
was were will with you your we our not no can"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


# --------------------------------------------------------------------------------------------------
# Failures and their signatures


@dataclass(frozen=True, slots=True)
class Failure:
    """One failing trace as the clustering sees it."""

    trace_id: str
    cause: CauseCategory
    signature: tuple[tuple[str, str], ...]
    text: str
    loss: float
    failing_dimensions: tuple[str, ...]


def find_failures(
    traces: Sequence[Trace],
    table: ScoreTable,
    rubric: Rubric,
    *,
    reference_objective: float,
) -> list[Failure]:
    """The failing traces (a failed dimension or a violated constraint) with cause and signature.

    `table` must score `traces` in order. A trace's loss is how far its objective falls below
    `reference_objective` (the typical passing trace), so impact = size x mean loss ranks clusters
    by how much objective they cost; an unscored objective counts as a full-quality loss of 1.
    """
    scorer_types = {dimension.key: dimension.scorer.type for dimension in rubric.dimensions}
    keys = table.dimension_keys
    failed_cells = table.failed_cells
    failures: list[Failure] = []
    for index in np.flatnonzero(table.failed).tolist():
        trace = traces[index]
        failed_keys = tuple(keys[j] for j in np.flatnonzero(failed_cells[index]).tolist())
        causes = _candidate_causes(trace, failed_keys, table.violations[index], scorer_types)
        cause, dimension = min(causes, key=lambda pair: (_CAUSE_RANK[pair[0]], pair[1]))
        failed_tool = _failed_tool(trace)
        signature: dict[str, str] = {"cause": cause.value, "dimension": dimension}
        if cause is CauseCategory.TOOL_ERROR and failed_tool is not None:
            signature["tool"] = failed_tool[0]
        # A failed tool is known by its name; the trace's own error type is only what the recording
        # made of it (ingest gives a trace with a failed tool span the span's type, a replay reports
        # the tool's error in its call and none of its own), so it would keep a replay out of the
        # cluster of the recorded failure it repeats.
        if cause is CauseCategory.OTHER and trace.error_type:
            signature["error_type"] = trace.error_type
        if cause is CauseCategory.TRUNCATION and trace.finish_reason:
            signature["finish_reason"] = trace.finish_reason
        if cause in (CauseCategory.LATENCY, CauseCategory.COST) and trace.model:
            signature["model"] = trace.model
        objective = float(table.objective[index])
        loss = 1.0 if math.isnan(objective) else max(0.0, reference_objective - objective)
        reason = table.reasons[index][keys.index(dimension)] if dimension in keys else dimension
        failures.append(
            Failure(
                trace_id=trace.trace_id,
                cause=cause,
                signature=tuple(sorted(signature.items())),
                text=_failure_text(trace, cause, reason, failed_tool),
                loss=loss,
                failing_dimensions=tuple(sorted(failed_keys)),
            )
        )
    return failures


def _candidate_causes(
    trace: Trace,
    failed_keys: Sequence[str],
    violations: Sequence[str],
    scorer_types: Mapping[str, ScorerType],
) -> list[tuple[CauseCategory, str]]:
    causes = [(_refine(_dimension_cause(key, scorer_types), trace), key) for key in failed_keys]
    for violation in violations:
        if violation == VIOLATION_COST:
            causes.append((CauseCategory.COST, violation))
        elif violation == VIOLATION_LATENCY:
            causes.append((CauseCategory.LATENCY, violation))
        elif violation.startswith(VIOLATION_MIN_DIMENSION_PREFIX):
            key = violation.removeprefix(VIOLATION_MIN_DIMENSION_PREFIX)
            causes.append((_refine(_dimension_cause(key, scorer_types), trace), key))
        else:
            causes.append((CauseCategory.OTHER, violation))
    return causes


def _dimension_cause(key: str, scorer_types: Mapping[str, ScorerType]) -> CauseCategory:
    scorer_type = scorer_types.get(key)
    return CauseCategory.OTHER if scorer_type is None else _SCORER_CAUSE[scorer_type]


def _refine(cause: CauseCategory, trace: Trace) -> CauseCategory:
    """What the trace itself says about a content failure: a hit token limit or a failed tool call
    is the upstream cause of a malformed or wrong answer, whichever dimension noticed it."""
    if cause in (CauseCategory.FORMAT, CauseCategory.MISMATCH, CauseCategory.OTHER):
        if trace.finish_reason in TRUNCATED_FINISH_REASONS:
            return CauseCategory.TRUNCATION
        if cause is CauseCategory.OTHER and trace.status is TraceStatus.ERROR:
            return CauseCategory.OTHER
        if _failed_tool(trace) is not None:
            return CauseCategory.TOOL_ERROR
    return cause


def _failed_tool(trace: Trace) -> tuple[str, str] | None:
    """(tool name, error message) of the first failed tool call or tool span."""
    for call in trace.tool_calls:
        if call.error is not None:
            return call.name, call.error
    for span in trace.spans:
        if span.kind == "tool" and span.status is TraceStatus.ERROR:
            return span.name, span.error_message or span.error_type or ""
    return None


def _failure_text(
    trace: Trace, cause: CauseCategory, reason: str, failed_tool: tuple[str, str] | None
) -> str:
    """The text that shows how the trace failed: what distinguishes one failure mode from another."""
    if cause is CauseCategory.TOOL_ERROR and failed_tool is not None:
        return failed_tool[1][:_TEXT_CHARS]
    if cause is CauseCategory.OTHER and trace.error_message:
        return f"{trace.error_type or ''} {trace.error_message}"[:_TEXT_CHARS]
    return f"{reason} {trace.output[:_TEXT_CHARS]}"


# --------------------------------------------------------------------------------------------------
# Text vectors


def normalise_text(text: str) -> str:
    """Lower-case with ids and numbers masked, so 'order 1234 not found' and 'order 98 not found'
    read the same."""
    return _VOLATILE.sub(" 0 ", text.casefold())


def text_terms(text: str) -> list[str]:
    """Unigrams and bigrams of the normalised text, stopwords dropped from the unigrams."""
    words = _WORD.findall(normalise_text(text))
    terms = [word for word in words if word not in _STOPWORDS and len(word) > 1]
    terms.extend(f"{first} {second}" for first, second in itertools.pairwise(words))
    return terms


class TfidfSpace:
    """A TF-IDF space over one group of texts (vocabulary = the most frequent terms, ties by term).

    Rows are L2-normalised, so a dot product is a cosine similarity. Documents are bags of terms.
    """

    def __init__(
        self, documents: Sequence[Sequence[str]], weights: Sequence[int], max_vocabulary: int
    ) -> None:
        document_frequency: Counter[str] = Counter()
        for terms, weight in zip(documents, weights, strict=True):
            for term in set(terms):
                document_frequency[term] += weight
        total = float(sum(weights))
        ranked = sorted(document_frequency.items(), key=lambda item: (-item[1], item[0]))[:max_vocabulary]
        self.terms: tuple[str, ...] = tuple(term for term, _ in ranked)
        self._index = {term: i for i, term in enumerate(self.terms)}
        self._idf = np.array(
            [math.log((1.0 + total) / (1.0 + df)) + 1.0 for _, df in ranked], dtype=np.float32
        )

    def vectors(self, documents: Sequence[Sequence[str]]) -> FloatMatrix:
        matrix = np.zeros((len(documents), len(self.terms)), dtype=np.float32)
        for row, terms in enumerate(documents):
            counts = Counter(self._index[term] for term in terms if term in self._index)
            if counts:
                columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
                matrix[row, columns] = (1.0 + np.log(values)) * self._idf[columns]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix


def _unit_rows(matrix: FloatMatrix) -> FloatMatrix:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _stable_key(seed: int, text: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def cluster_texts(
    texts: Sequence[str], *, seed: int, split: bool = True
) -> tuple[list[int], TfidfSpace, FloatMatrix]:
    """Partition texts by TF-IDF cosine similarity (`split=False`: one cluster, for its centroid).

    Returns the cluster index of every text, the TF-IDF space and the (unit) centroids. Identical
    normalised texts always share a cluster; the work is done on unique texts weighted by count.
    """
    if not texts:
        return [], TfidfSpace([], [], _MAX_VOCABULARY), np.zeros((0, 0), dtype=np.float32)
    unique_of: dict[str, int] = {}
    text_index: list[int] = []
    for text in texts:
        normalised = normalise_text(text)
        text_index.append(unique_of.setdefault(normalised, len(unique_of)))
    uniques = list(unique_of)
    counts = np.bincount(np.asarray(text_index), minlength=len(uniques))
    documents = [text_terms(text) for text in uniques]

    # Fit on a sample of unique texts in a seeded order; heavy texts first so the leaders are the
    # common failure texts, not whichever rare text a random order happened to put first.
    order = sorted(range(len(uniques)), key=lambda i: (-int(counts[i]), _stable_key(seed, uniques[i])))
    sample = order[:_FIT_SAMPLE]
    space = TfidfSpace([documents[i] for i in sample], [int(counts[i]) for i in sample], _MAX_VOCABULARY)
    if not space.terms:
        return [0] * len(texts), space, np.zeros((1, 0), dtype=np.float32)
    sample_vectors = space.vectors([documents[i] for i in sample])
    sample_weights = counts[sample].astype(np.float32)

    if not split:
        centroid = _unit_rows((sample_weights @ sample_vectors).reshape(1, -1))
        return [0] * len(texts), space, centroid
    centroids = _agglomerate(_leaders(sample_vectors, sample_weights))
    unique_cluster = np.empty(len(uniques), dtype=np.int64)
    for start in range(0, len(uniques), _ASSIGN_CHUNK):
        block = space.vectors(documents[start : start + _ASSIGN_CHUNK])
        unique_cluster[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return [int(unique_cluster[i]) for i in text_index], space, centroids


def _leaders(vectors: FloatMatrix, weights: npt.NDArray[np.float32]) -> FloatMatrix:
    """Single-pass leader clustering: returns the micro-clusters' weighted sums of member vectors.

    A text starts a new micro-cluster when no leader is similar enough, up to `_MAX_LEADERS`; past
    that cap it joins its nearest leader, which bounds the agglomeration that follows.
    """
    dimension = vectors.shape[1]
    sums = np.zeros((_MAX_LEADERS, dimension), dtype=np.float32)
    unit = np.zeros((_MAX_LEADERS, dimension), dtype=np.float32)
    used = 0
    for row, weight in zip(vectors, weights, strict=True):
        if used:
            similarities = unit[:used] @ row
            best = int(np.argmax(similarities))
            if similarities[best] >= _LEADER_SIMILARITY or used == _MAX_LEADERS:
                sums[best] += weight * row
                unit[best] = sums[best] / max(float(np.linalg.norm(sums[best])), 1e-12)
                continue
        sums[used] = weight * row
        unit[used] = row
        used += 1
    return sums[:used]


def _agglomerate(sums: FloatMatrix) -> FloatMatrix:
    """Agglomerate micro-clusters while the closest two have centroids at cosine >= the threshold.

    The cosine of two mean vectors is their average-linkage similarity divided by the geometric
    mean of the groups' own cohesion, so the criterion is relative: a group of varied texts (prose
    answers, say) merges with another group of the same varied kind, while two tight groups of
    different error messages stay apart. Returns the unit centroids of the final clusters.
    """
    centroids = _unit_rows(sums.copy())
    active = np.ones(len(sums), dtype=bool)
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    while active.sum() > 1:
        masked = np.where(active[:, None] & active[None, :], similarity, -np.inf)
        first, second = divmod(int(np.argmax(masked)), len(sums))
        if masked[first, second] < _MERGE_SIMILARITY:
            break
        sums[first] += sums[second]
        active[second] = False
        centroids[first] = sums[first] / max(float(np.linalg.norm(sums[first])), 1e-12)
        similarity[first] = centroids @ centroids[first]
        similarity[:, first] = similarity[first]
        similarity[first, first] = -np.inf
    return centroids[active]


# --------------------------------------------------------------------------------------------------
# Clusters


@dataclass(frozen=True, slots=True, eq=False)
class _SignatureModel:
    """What it takes to file a new failure of one signature: the text space and, per centroid, the
    cluster the centroid's texts ended up in."""

    space: TfidfSpace
    centroids: FloatMatrix
    cluster_of_centroid: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Diagnosis:
    """The clusters of a scan's analysis failures, and a way to file other failures into them (the
    holdout's, at validation, to tell whether a change made an untargeted cluster grow)."""

    clusters: tuple[Cluster, ...]
    _models: Mapping[tuple[tuple[str, str], ...], _SignatureModel]

    def kin(self, cluster_ids: Iterable[str]) -> set[str]:
        """`cluster_ids` and every cluster split by text from the same signature (one kind of
        failure, e.g. a tool's argument error quoting different values)."""
        wanted = set(cluster_ids)
        return wanted | {
            cluster
            for model in self._models.values()
            if wanted & set(model.cluster_of_centroid)
            for cluster in model.cluster_of_centroid
        }

    def assign(self, failures: Sequence[Failure]) -> list[str | None]:
        """The cluster id of each failure; None when its signature was never seen."""
        assigned: list[str | None] = []
        for failure in failures:
            model = self._models.get(failure.signature)
            if model is None:
                assigned.append(None)
            elif len(model.cluster_of_centroid) == 1 or not model.space.terms:
                assigned.append(model.cluster_of_centroid[0])
            else:
                vector = model.space.vectors([text_terms(failure.text)])[0]
                assigned.append(model.cluster_of_centroid[int(np.argmax(model.centroids @ vector))])
        return assigned


def cluster_failures(
    failures: Sequence[Failure],
    *,
    n_traces: int,
    seed: int,
    min_cluster_size: int,
) -> Diagnosis:
    """Cluster failures by signature, then by text; clusters ranked by impact (ties by id).

    `n_traces` is the traffic the failures come from (for each cluster's share).
    """
    by_signature: dict[tuple[tuple[str, str], ...], list[Failure]] = {}
    for failure in sorted(failures, key=lambda f: f.trace_id):
        by_signature.setdefault(failure.signature, []).append(failure)

    clusters: list[Cluster] = []
    models: dict[tuple[tuple[str, str], ...], _SignatureModel] = {}
    for signature, members in sorted(by_signature.items()):
        split = CauseCategory(dict(signature)["cause"]) in _TEXT_SPLIT_CAUSES
        labels, space, centroids = cluster_texts([f.text for f in members], seed=seed, split=split)
        group_of_label = _fold_small_groups(labels, centroids, min_cluster_size)
        groups: dict[int, list[Failure]] = {}
        for failure, label in zip(members, labels, strict=True):
            groups.setdefault(group_of_label[label], []).append(failure)
        cluster_ids: dict[int, str] = {}
        for group, group_members in sorted(groups.items()):
            cluster = _build_cluster(signature, group_members, space, n_traces=n_traces)
            cluster_ids[group] = cluster.cluster_id
            clusters.append(cluster)
        models[signature] = _SignatureModel(
            space=space,
            centroids=centroids,
            cluster_of_centroid=tuple(cluster_ids[group_of_label[i]] for i in range(len(centroids))),
        )
    clusters.sort(key=lambda c: (-c.impact, c.cluster_id))
    return Diagnosis(clusters=tuple(clusters), _models=models)


def _fold_small_groups(labels: Sequence[int], centroids: FloatMatrix, min_size: int) -> dict[int, int]:
    """Map each centroid label to the label of the cluster its texts end up in: clusters below
    `min_size` (and centroids that won no text) join their most similar large-enough cluster."""
    sizes = Counter(labels)
    # A signature with only small clusters keeps them all (it is rare, not noise to hide).
    large = sorted(label for label, size in sizes.items() if size >= min_size) or sorted(sizes)
    target: dict[int, int] = {}
    for label in range(len(centroids)):
        if label in large:
            target[label] = label
        else:
            similarities = centroids[large] @ centroids[label] if centroids.shape[1] else np.zeros(len(large))
            target[label] = large[int(np.argmax(similarities))]
    return target


def _build_cluster(
    signature: tuple[tuple[str, str], ...],
    members: Sequence[Failure],
    space: TfidfSpace,
    *,
    n_traces: int,
) -> Cluster:
    trace_ids = tuple(sorted(f.trace_id for f in members))
    documents = [text_terms(f.text) for f in members]
    exemplars, top_terms = _exemplars_and_terms(trace_ids, members, documents, space)
    signature_map = dict(signature)
    cause = CauseCategory(signature_map["cause"])
    impact = float(sum(f.loss for f in members))
    dimension_counts: Counter[str] = Counter()
    for failure in members:
        dimension_counts.update(failure.failing_dimensions)
    failing_dimensions = tuple(
        key for key, _ in sorted(dimension_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    digest = hashlib.blake2b(
        repr((signature, top_terms, trace_ids[:_EXEMPLARS])).encode(), digest_size=6
    ).hexdigest()
    return Cluster(
        cluster_id=f"cl_{digest}",
        label=_label(signature_map, top_terms),
        cause=cause,
        signature=signature,
        trace_ids=trace_ids,
        share=len(members) / n_traces if n_traces else 0.0,
        impact=impact,
        exemplar_trace_ids=exemplars,
        failing_dimensions=failing_dimensions,
        top_terms=top_terms,
    )


def _exemplars_and_terms(
    trace_ids: Sequence[str],
    members: Sequence[Failure],
    documents: Sequence[Sequence[str]],
    space: TfidfSpace,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Exemplars = the members closest to the cluster's centroid; top terms = its heaviest terms."""
    if not space.terms:
        return tuple(trace_ids[:_EXEMPLARS]), ()
    vectors = space.vectors(documents)
    centroid = vectors.mean(axis=0)
    closeness = vectors @ centroid
    ranked = sorted(range(len(members)), key=lambda i: (-round(float(closeness[i]), 6), members[i].trace_id))
    exemplars = tuple(members[i].trace_id for i in ranked[:_EXEMPLARS])
    term_order = sorted(
        range(len(space.terms)), key=lambda j: (-round(float(centroid[j]), 6), space.terms[j])
    )
    terms = _distinct_terms((space.terms[j] for j in term_order if centroid[j] > 0), _TOP_TERMS)
    return exemplars, terms


def _distinct_terms(terms: Iterable[str], limit: int) -> tuple[str, ...]:
    """Top terms without repeating a word a chosen bigram already shows."""
    chosen: list[str] = []
    seen_words: set[str] = set()
    for term in terms:
        words = set(term.split())
        if words <= seen_words:
            continue
        chosen.append(term)
        seen_words |= words
        if len(chosen) == limit:
            break
    return tuple(chosen)


def _label(signature: Mapping[str, str], top_terms: Sequence[str]) -> str:
    parts = [signature["cause"].replace("_", " ")]
    if "tool" in signature:
        parts.append(f"tool {signature['tool']}")
    parts.append(f"on {signature['dimension']}")
    if "error_type" in signature:
        parts.append(f"({signature['error_type']})")
    if "model" in signature:
        parts.append(f"with {signature['model']}")
    label = " ".join(parts)
    if top_terms:
        label += ": " + ", ".join(top_terms[:3])
    return label
