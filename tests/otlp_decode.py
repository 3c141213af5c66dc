"""Decoding of OTLP export requests into plain, comparable Python records.

Used by the test receiver (``otlp_receiver.py``) and by tests that read OTLP/JSON files
(one export request per line, as the Collector's ``otlpjsonfile`` receiver reads them).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_svc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_svc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_svc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

Signal = Literal["traces", "metrics", "logs"]

REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": trace_svc.ExportTraceServiceRequest,
    "metrics": metrics_svc.ExportMetricsServiceRequest,
    "logs": logs_svc.ExportLogsServiceRequest,
}

# OTLP/JSON writes these ids as hex; protobuf's JSON mapping expects base64 for bytes.
_HEX_ID_KEYS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str  # "" for a root span
    kind: str  # INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER, UNSPECIFIED
    status_code: str  # UNSET, OK, ERROR
    status_message: str
    attributes: dict[str, Any]
    events: list[SpanEvent]
    links: list[SpanLink]
    start_time_unix_nano: int
    end_time_unix_nano: int
    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    scope_schema_url: str


@dataclass(frozen=True)
class DataPoint:
    attributes: dict[str, Any]
    value: int | float | None = None  # sum and gauge points
    count: int | None = None  # histogram, exponential histogram, summary
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0


@dataclass(frozen=True)
class ReceivedMetric:
    name: str
    description: str
    unit: str
    type: str  # sum, gauge, histogram, exponential_histogram, summary
    temporality: str | None  # CUMULATIVE, DELTA (None for gauge/summary)
    is_monotonic: bool | None  # sums only
    points: list[DataPoint]
    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    scope_schema_url: str


@dataclass(frozen=True)
class ReceivedLog:
    body: Any
    severity_number: int
    severity_text: str
    attributes: dict[str, Any]
    trace_id: str  # "" when the record carries no span context
    span_id: str
    event_name: str
    time_unix_nano: int
    observed_time_unix_nano: int
    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    scope_schema_url: str


def any_value(v: AnyValue) -> Any:
    """Python value of an OTLP AnyValue (lists and dicts for arrays and kvlists)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, kind)


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _enum_suffix(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def flatten_spans(req: trace_svc.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    out: list[ReceivedSpan] = []
    for rs in req.resource_spans:
        res = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            out.extend(
                ReceivedSpan(
                    name=sp.name,
                    trace_id=sp.trace_id.hex(),
                    span_id=sp.span_id.hex(),
                    parent_span_id=sp.parent_span_id.hex(),
                    kind=_enum_suffix(trace_pb2.Span.SpanKind.Name(sp.kind), "SPAN_KIND_"),
                    status_code=_enum_suffix(
                        trace_pb2.Status.StatusCode.Name(sp.status.code), "STATUS_CODE_"
                    ),
                    status_message=sp.status.message,
                    attributes=attributes(sp.attributes),
                    events=[
                        SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                        for e in sp.events
                    ],
                    links=[
                        SpanLink(ln.trace_id.hex(), ln.span_id.hex(), attributes(ln.attributes))
                        for ln in sp.links
                    ],
                    start_time_unix_nano=sp.start_time_unix_nano,
                    end_time_unix_nano=sp.end_time_unix_nano,
                    resource=res,
                    scope_name=ss.scope.name,
                    scope_version=ss.scope.version,
                    scope_schema_url=ss.schema_url,
                )
                for sp in ss.spans
            )
    return out


def _points(m: metrics_pb2.Metric, kind: str) -> list[DataPoint]:
    pts: list[DataPoint] = []
    for p in getattr(m, kind).data_points:
        common: dict[str, Any] = {
            "attributes": attributes(p.attributes),
            "start_time_unix_nano": p.start_time_unix_nano,
            "time_unix_nano": p.time_unix_nano,
        }
        if kind in ("sum", "gauge"):
            which = p.WhichOneof("value")
            pts.append(DataPoint(value=getattr(p, which) if which else None, **common))
            continue
        opt = {
            f: getattr(p, f) for f in ("sum", "min", "max") if kind != "summary" and p.HasField(f)
        }
        if kind == "summary":
            opt["sum"] = p.sum
        if kind == "histogram":
            opt["bucket_counts"] = tuple(p.bucket_counts)
            opt["explicit_bounds"] = tuple(p.explicit_bounds)
        pts.append(DataPoint(count=p.count, **opt, **common))
    return pts


def flatten_metrics(req: metrics_svc.ExportMetricsServiceRequest) -> list[ReceivedMetric]:
    out: list[ReceivedMetric] = []
    for rm in req.resource_metrics:
        res = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data") or ""
                data = getattr(m, kind) if kind else None
                temporality = None
                if data is not None and hasattr(data, "aggregation_temporality"):
                    temporality = _enum_suffix(
                        metrics_pb2.AggregationTemporality.Name(data.aggregation_temporality),
                        "AGGREGATION_TEMPORALITY_",
                    )
                out.append(
                    ReceivedMetric(
                        name=m.name,
                        description=m.description,
                        unit=m.unit,
                        type=kind,
                        temporality=temporality,
                        is_monotonic=m.sum.is_monotonic if kind == "sum" else None,
                        points=_points(m, kind) if kind else [],
                        resource=res,
                        scope_name=sm.scope.name,
                        scope_version=sm.scope.version,
                        scope_schema_url=sm.schema_url,
                    )
                )
    return out


def flatten_logs(req: logs_svc.ExportLogsServiceRequest) -> list[ReceivedLog]:
    out: list[ReceivedLog] = []
    for rl in req.resource_logs:
        res = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            out.extend(
                ReceivedLog(
                    body=any_value(r.body),
                    severity_number=r.severity_number,
                    severity_text=r.severity_text,
                    attributes=attributes(r.attributes),
                    trace_id=r.trace_id.hex(),
                    span_id=r.span_id.hex(),
                    event_name=r.event_name,
                    time_unix_nano=r.time_unix_nano,
                    observed_time_unix_nano=r.observed_time_unix_nano,
                    resource=res,
                    scope_name=sl.scope.name,
                    scope_version=sl.scope.version,
                    scope_schema_url=sl.schema_url,
                )
                for r in sl.log_records
            )
    return out


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in _HEX_ID_KEYS and isinstance(v, str)
            else _hex_ids_to_base64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(x) for x in node]
    return node


def parse_otlp_json(signal: Signal, text: str | bytes) -> Message:
    """Parse one OTLP/JSON export request (also one line of a Collector otlpjsonfile)."""
    msg = REQUEST_TYPES[signal]()
    json_format.ParseDict(_hex_ids_to_base64(json.loads(text)), msg, ignore_unknown_fields=True)
    return msg


def flatten(signal: Signal, message: Any) -> list[Any]:
    """Spans, metrics or log records of one export request of ``signal``."""
    if signal == "traces":
        return flatten_spans(message)
    if signal == "metrics":
        return flatten_metrics(message)
    return flatten_logs(message)
