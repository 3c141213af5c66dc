"""A run's local telemetry as plain records: OTLP-JSON lines files and the JSON log file.

Readers are tolerant and bounded: a line that is not JSON or not OTLP is skipped and
counted in ``notes``; at most ``max_lines`` lines are read per file (the newest, from the
end). The rotated copy ``<name>.1`` is read before the live file so time runs forward.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LogRec",
    "PointRec",
    "RunRecords",
    "SpanRec",
    "attr_value",
    "read_log_file",
    "read_otlp_dir",
    "run_id",
]

STATUS_ERROR = 2  # OTLP StatusCode: 0 unset, 1 ok, 2 error


@dataclass(frozen=True)
class SpanRec:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attrs: dict[str, Any]
    status_code: int = 0
    status_message: str = ""
    run: str = ""  # the process that wrote it (see ``run_id``)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR


@dataclass(frozen=True)
class PointRec:
    """One data point. ``kind``: sum, gauge or histogram (then bounds/counts/count/sum)."""

    metric: str
    unit: str
    kind: str
    time_ns: int
    attrs: dict[str, Any]
    value: float = 0.0
    bounds: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    count: int = 0
    total: float = 0.0
    run: str = ""  # the process that wrote it (see ``run_id``)
    start_ns: int = 0  # start of a cumulative series: with ``run``, which series this is


@dataclass(frozen=True)
class LogRec:
    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attrs: dict[str, Any]
    trace_id: str = ""
    source: str = "otlp"  # otlp (logs.jsonl) or file (hyperion.log)
    span_id: str = ""


@dataclass
class RunRecords:
    spans: list[SpanRec] = field(default_factory=list)
    points: list[PointRec] = field(default_factory=list)
    logs: list[LogRec] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- OTLP/JSON values ------------------------------------------------------------------------
_SCALARS: dict[str, Any] = {
    "stringValue": str,
    "intValue": int,
    "doubleValue": float,
    "boolValue": bool,
}


def attr_value(v: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` as a Python value (int64s arrive as strings in OTLP/JSON)."""
    for key, convert in _SCALARS.items():
        if key in v:
            return convert(v[key])
    if "arrayValue" in v:
        return [attr_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return _attrs(v["kvlistValue"].get("values", []))
    return None


def _attrs(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: attr_value(a.get("value", {})) for a in items if "key" in a}


def run_id(resource: dict[str, Any]) -> str:
    """Which process wrote a record: ``service.instance.id`` when set, else host and pid.
    The files of an output directory are appended to by every run that used it."""
    instance = resource.get("service.instance.id")
    if instance:
        return str(instance)
    return f"{resource.get('host.name', '')}/{resource.get('process.pid', '')}"


def _tail_lines(path: str, max_lines: int) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from deque(f, maxlen=max_lines)


def _files(directory: str, name: str) -> list[str]:
    base = os.path.join(directory, name)
    return [p for p in (base + ".1", base) if os.path.isfile(p)]


# --- OTLP files ------------------------------------------------------------------------------
def _spans(req: dict[str, Any]) -> Iterator[SpanRec]:
    for rs in req.get("resourceSpans", []):
        run = run_id(_attrs(rs.get("resource", {}).get("attributes", [])))
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                status = s.get("status", {})
                yield SpanRec(
                    trace_id=s.get("traceId", ""),
                    span_id=s.get("spanId", ""),
                    parent_id=s.get("parentSpanId", ""),
                    name=s.get("name", ""),
                    start_ns=int(s.get("startTimeUnixNano", 0)),
                    end_ns=int(s.get("endTimeUnixNano", 0)),
                    attrs=_attrs(s.get("attributes", [])),
                    status_code=int(status.get("code", 0)),
                    status_message=status.get("message", ""),
                    run=run,
                )


def _points(req: dict[str, Any]) -> Iterator[PointRec]:
    for rm in req.get("resourceMetrics", []):
        run = run_id(_attrs(rm.get("resource", {}).get("attributes", [])))
        for sm in rm.get("scopeMetrics", []):
            for m in sm.get("metrics", []):
                name, unit = m.get("name", ""), m.get("unit", "")
                for kind in ("sum", "gauge"):
                    for dp in m.get(kind, {}).get("dataPoints", []):
                        value = (
                            float(dp["asDouble"]) if "asDouble" in dp else float(dp.get("asInt", 0))
                        )
                        yield PointRec(
                            name,
                            unit,
                            kind,
                            int(dp.get("timeUnixNano", 0)),
                            _attrs(dp.get("attributes", [])),
                            value=value,
                            run=run,
                            start_ns=int(dp.get("startTimeUnixNano", 0)),
                        )
                for dp in m.get("histogram", {}).get("dataPoints", []):
                    yield PointRec(
                        name,
                        unit,
                        "histogram",
                        int(dp.get("timeUnixNano", 0)),
                        _attrs(dp.get("attributes", [])),
                        bounds=tuple(float(b) for b in dp.get("explicitBounds", [])),
                        counts=tuple(int(c) for c in dp.get("bucketCounts", [])),
                        count=int(dp.get("count", 0)),
                        total=float(dp.get("sum", 0.0)),
                        run=run,
                        start_ns=int(dp.get("startTimeUnixNano", 0)),
                    )


def _body(v: Any) -> str:
    value = attr_value(v) if isinstance(v, dict) else v
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _logs(req: dict[str, Any]) -> Iterator[LogRec]:
    for rl in req.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                t = int(r.get("timeUnixNano", 0)) or int(r.get("observedTimeUnixNano", 0))
                yield LogRec(
                    t,
                    int(r.get("severityNumber", 0)),
                    r.get("severityText", ""),
                    _body(r.get("body", {})),
                    _attrs(r.get("attributes", [])),
                    r.get("traceId", ""),
                    "otlp",
                    r.get("spanId", ""),
                )


def read_otlp_dir(directory: str, max_lines: int = 100_000) -> RunRecords:
    """Spans, metric points and log records of ``traces|metrics|logs.jsonl`` in ``directory``."""
    out = RunRecords()
    readers = (
        ("traces.jsonl", _spans, out.spans),
        ("metrics.jsonl", _points, out.points),
        ("logs.jsonl", _logs, out.logs),
    )
    for name, parse, sink in readers:
        bad = 0
        for path in _files(directory, name):
            out.files.append(path)
            for line in _tail_lines(path, max_lines):
                if not line.strip():
                    continue
                try:
                    sink.extend(parse(json.loads(line)))  # type: ignore[arg-type]
                except (ValueError, TypeError, KeyError, AttributeError):
                    bad += 1
        if bad:
            out.notes.append(f"{bad} line(s) of {name} were not OTLP/JSON and were skipped")
    return out


# --- the JSON log file -------------------------------------------------------------------------
_RESERVED = frozenset(
    {
        "timestamp",
        "severity_text",
        "severity_number",
        "logger",
        "category",
        "message",
        "attributes",
        "trace_id",
        "span_id",
        "trace_flags",
    }
)


def _rfc3339_ns(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1e9)


def read_log_file(path: str, max_lines: int = 100_000) -> tuple[list[LogRec], list[str]]:
    """Records of hyperion's JSON log file (text-format lines are skipped, and counted)."""
    records: list[LogRec] = []
    notes: list[str] = []
    if not os.path.isfile(path):
        return records, notes
    bad = 0
    for line in _tail_lines(path, max_lines):
        try:
            d = json.loads(line)
            attrs = {k: v for k, v in d.items() if k not in _RESERVED}
            attrs.update(d.get("attributes") or {})
            attrs["logger"] = d.get("logger", "")
            records.append(
                LogRec(
                    _rfc3339_ns(d["timestamp"]) if "timestamp" in d else 0,
                    int(d.get("severity_number", 0)),
                    str(d.get("severity_text", "")),
                    str(d.get("message", "")),
                    attrs,
                    str(d.get("trace_id", "")),
                    "file",
                    str(d.get("span_id", "")),
                )
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            bad += 1
    if bad:
        notes.append(f"{bad} line(s) of {os.path.basename(path)} were not JSON log records")
    return records, notes
