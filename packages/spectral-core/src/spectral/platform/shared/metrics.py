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
QUEUE_DEPTH = Gauge(
    "spectral_queue_depth", "Jobs waiting in the queue, read when scraped", multiprocess_mode="max"
)

SPANS = Counter("spectral_spans_total", "Spans received, by outcome (accepted or rejected)", ["outcome"])
INGEST_WRITE_WAIT = Histogram(
    "spectral_ingest_write_wait_seconds",
    "Time a trace write waited for a slot of the write path",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
INGEST_SHED = Counter("spectral_ingest_shed_total", "Trace writes refused with 503: no slot within the wait")

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
