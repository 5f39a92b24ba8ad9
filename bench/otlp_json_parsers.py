"""OTLP/JSON decoding: Spectral's decoder against protobuf's own `json_format.Parse`, which implements
the proto3 JSON mapping (both field-name forms included), on the same request bodies.

    uv run python bench/otlp_json_parsers.py [--spans 1000] [--bodies 20]

`json_format.Parse` cannot read OTLP/JSON as it is: OTLP/JSON ids are hex, while the proto3 mapping
reads `bytes` fields as base64, so a 32-digit hex trace id silently becomes 24 wrong bytes (shown
below). Using it therefore takes a pass that rewrites ids to base64 first, then Parse, then the same
walk over the message that protobuf bodies get. It also fails the whole request on the first
unreadable span, where OTLP wants that span counted in partialSuccess. Both paths here end in the
same normalised spans, so spans/s compare like for like. Loopback only, no server, a few seconds.
"""

from __future__ import annotations

import argparse
import base64
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_ingest import build_request, to_otlp_json
from spectral.platform.models.pricing import default_catalog
from spectral.platform.traces.normalise import IngestBatch
from spectral.platform.traces.otlp import decode_json, decode_protobuf

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _base64_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode() if key in _ID_FIELDS else _base64_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_base64_ids(item) for item in value]
    return value


def via_json_format(body: bytes) -> IngestBatch:
    request = Parse(orjson.dumps(_base64_ids(orjson.loads(body))), ExportTraceServiceRequest())
    return decode_protobuf(request.SerializeToString(), default_catalog())


def via_spectral(body: bytes) -> IngestBatch:
    return decode_json(body, default_catalog())


def rate(decode: Callable[[bytes], IngestBatch], bodies: list[bytes], spans: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for body in bodies:
            decode(body)
        best = min(best, time.perf_counter() - started)
    return spans * len(bodies) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("--bodies", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    bodies = [to_otlp_json(build_request(rng, args.spans)) for _ in range(args.bodies)]

    reference = via_spectral(bodies[0])
    other = via_json_format(bodies[0])
    assert reference.rejected == other.rejected == 0
    assert [s.span_id for s in reference.spans] == [s.span_id for s in other.spans], "paths disagree"

    hex_id = orjson.loads(bodies[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    as_base64 = Parse(
        orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": hex_id}]}]}]}),
        ExportTraceServiceRequest(),
    )
    read = as_base64.resource_spans[0].scope_spans[0].spans[0].trace_id
    print(f"json_format.Parse on a hex trace id {hex_id}: {len(read)} bytes {read.hex()} (wrong)")

    print(f"{args.bodies} bodies of {args.spans} spans, best of {args.repeat}:")
    for name, decode in (("spectral decode_json", via_spectral), ("json_format.Parse path", via_json_format)):
        print(f"  {name:24} {rate(decode, bodies, args.spans, args.repeat):>10,.0f} spans/s")


if __name__ == "__main__":
    main()
