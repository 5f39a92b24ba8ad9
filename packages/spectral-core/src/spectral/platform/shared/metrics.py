"""Prometheus metrics of a Spectral process, in the text exposition format.

Series are process-wide (prometheus-client's default registry). A server run with several worker
processes sets `PROMETHEUS_MULTIPROC_DIR` to a directory they share (emptied before start), and
`/metrics` then aggregates every process's files."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "spectral_http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "spectral_http_request_duration_seconds", "HTTP request duration by route template", ["route", "method"]
)
JOBS = Counter("spectral_jobs_total", "Background jobs run, by job type and outcome", ["job", "outcome"])
JOB_DURATION = Histogram(
    "spectral_job_duration_seconds",
    "Background job duration by job type",
    ["job"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
# Gauges read when scraped: in multi-process mode the value of the process scraped last is the
# current one (an older scrape's value in another process's file is not).
QUEUE_DEPTH = Gauge(
    "spectral_queue_depth", "Jobs waiting in the queue, read when scraped", multiprocess_mode="mostrecent"
)

SPANS = Counter("spectral_spans_total", "Spans received, by outcome (accepted or rejected)", ["outcome"])
INGEST_WRITE_WAIT = Histogram(
    "spectral_ingest_write_wait_seconds",
    "Time a trace write waited for a slot of the write path",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
INGEST_SHED = Counter("spectral_ingest_shed_total", "Trace writes refused with 503: no slot within the wait")

SCANS_FINISHED = Counter(
    "spectral_scans_finished_total", "Scans that reached a final status, by that status", ["status"]
)
SCAN_PHASE_DURATION = Histogram(
    "spectral_scan_phase_duration_seconds",
    "Duration of a scan phase (from the end of the phase before it to its own output)",
    ["phase"],
    buckets=(0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

# Replays of an agent, by runner: `http` (the agent's replay endpoint) or `gateway` (its managed
# templates through the model gateway); an error is a replay that yielded no answer.
REPLAY_CALLS = Counter(
    "spectral_replay_calls_total", "Replays of an agent, by runner and outcome", ["runner", "outcome"]
)
REPLAY_DURATION = Histogram(
    "spectral_replay_duration_seconds",
    "Duration of one replay of an agent, by runner",
    ["runner"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REPLAY_COST = Counter(
    "spectral_replay_cost_usd_total", "What replays cost, as the replay target reported it (USD)", ["runner"]
)

# Model gateway calls: status is a ledger status (ok, error, cached, circuit_open); purpose is
# judge, generator or replay. The models are the priced ones, a bounded set.
MODEL_CALLS = Counter(
    "spectral_model_calls_total",
    "Model gateway calls, by provider, model, purpose and status",
    ["provider", "model", "purpose", "status"],
)
MODEL_CALL_DURATION = Histogram(
    "spectral_model_call_duration_seconds",
    "Duration of a model call sent to the provider, retries included",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
MODEL_COST = Counter(
    "spectral_model_cost_usd_total", "What model gateway calls cost (USD)", ["provider", "model", "purpose"]
)
CIRCUIT_STATE = Gauge(
    "spectral_model_circuit_state",
    "Circuit breaker of a model, as its ledger implies when scraped: 0 closed, 1 half-open, 2 open",
    ["provider", "model"],
    multiprocess_mode="mostrecent",
)
CIRCUIT_LEVELS = {"closed": 0, "half_open": 1, "open": 2}

CONTENT_TYPE = CONTENT_TYPE_LATEST


# The route label of a request no route matched: one series, not one per probed path.
UNMATCHED_ROUTE = "<unmatched>"


def exposition() -> bytes:
    """Every series of this process, or of all processes sharing `PROMETHEUS_MULTIPROC_DIR`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
