"""What the report shows, derived from the records: requests and their phases, time to
first token, token latencies, memory over time, leak sites and errors."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from hyperion_otel import semconv
from hyperion_otel.report._records import LogRec, PointRec, SpanRec

__all__ = [
    "ErrorRow",
    "LeakSiteRow",
    "Request",
    "cumulative_histogram",
    "error_rows",
    "find_requests",
    "leak_sites",
    "series",
    "token_latencies",
]

_ERROR_SEVERITY = 17  # OTel severity number of ERROR
_LEAK_LINE = re.compile(r"^- (\d+) bytes in (\d+) allocation\(s\) at (.+?) \[(\w+)\]\s*$")


@dataclass(frozen=True)
class Request:
    span: SpanRec
    model: str
    prefill: SpanRec | None
    decode: SpanRec | None
    steps: list[SpanRec]

    @property
    def ttft_s(self) -> float | None:
        """Request start to the first token: the decode phase starts right after it."""
        if self.decode is not None:
            return max(0, self.decode.start_ns - self.span.start_ns) / 1e9
        if self.prefill is not None:
            return max(0, self.prefill.end_ns - self.span.start_ns) / 1e9
        return None

    @property
    def output_tokens(self) -> int:
        return int(self.span.attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0) or 0)

    @property
    def input_tokens(self) -> int:
        return int(self.span.attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, 0) or 0)

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first (decode duration / decode steps)."""
        if self.decode is None:
            return None
        n = int(self.decode.attrs.get(semconv.HYPERION_DECODE_STEPS, 0) or 0)
        return self.decode.duration_s / n if n > 0 else None


def find_requests(spans: list[SpanRec]) -> list[Request]:
    """Generate calls (GenAI operation spans) with their prefill, decode and step children."""
    children: dict[str, list[SpanRec]] = defaultdict(list)
    for s in spans:
        if s.parent_id:
            children[s.parent_id].append(s)
    out = []
    for s in spans:
        if semconv.GEN_AI_OPERATION_NAME not in s.attrs:
            continue
        kids = children.get(s.span_id, [])
        prefill = next((k for k in kids if k.name == semconv.SPAN_PREFILL), None)
        decode = next((k for k in kids if k.name == semconv.SPAN_DECODE), None)
        steps = children.get(decode.span_id, []) if decode is not None else []
        steps = [k for k in steps if k.name == semconv.SPAN_DECODE_STEP]
        model = str(s.attrs.get(semconv.GEN_AI_REQUEST_MODEL, "") or s.name)
        out.append(Request(s, model, prefill, decode, steps))
    out.sort(key=lambda r: r.span.start_ns)
    return out


def cumulative_histogram(
    points: list[PointRec], metric: str
) -> tuple[tuple[float, ...], list[int]] | None:
    """Bucket counts of ``metric`` over the run: each series' latest point (cumulative
    temporality), summed over series that share the bucket bounds."""
    latest: dict[tuple[tuple[str, str], ...], PointRec] = {}
    for p in points:
        if p.metric != metric or p.kind != "histogram":
            continue
        key = tuple(sorted((k, str(v)) for k, v in p.attrs.items()))
        if key not in latest or p.time_ns >= latest[key].time_ns:
            latest[key] = p
    if not latest:
        return None
    bounds = max((p.bounds for p in latest.values()), key=len)
    counts = [0] * (len(bounds) + 1)
    for p in latest.values():
        if p.bounds == bounds and len(p.counts) == len(counts):
            counts = [a + b for a, b in zip(counts, p.counts, strict=True)]
    return bounds, counts


def token_latencies(requests: list[Request]) -> tuple[list[float], str]:
    """Per-token latencies (s): decode-step spans when recorded, else each request's mean."""
    steps = [s.duration_s for r in requests for s in r.steps]
    if steps:
        return steps, "per decode step (hyperion.decode.step spans)"
    means = [t for r in requests if (t := r.tpot_s) is not None]
    return means, "mean per request (decode span / decode steps)"


def series(points: list[PointRec], metric: str, by: str) -> dict[str, list[tuple[int, float]]]:
    """``metric``'s values over time, one series per value of attribute ``by``."""
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for p in points:
        if p.metric == metric and p.kind != "histogram":
            out[str(p.attrs.get(by, metric))].append((p.time_ns, p.value))
    for values in out.values():
        values.sort()
    return dict(out)


@dataclass(frozen=True)
class LeakSiteRow:
    site: str
    nbytes: int
    count: int
    source: str


def leak_sites(logs: list[LogRec]) -> tuple[list[LeakSiteRow], int, int]:
    """Sites of the latest leak report, the number of reports, and the latest one's time."""
    reports = [r for r in logs if semconv.HYPERION_MEMORY_LEAKED_BYTES in r.attrs]
    if not reports:
        return [], 0, 0
    latest = max(reports, key=lambda r: r.time_ns)
    rows = []
    for line in latest.body.splitlines():
        m = _LEAK_LINE.match(line.strip())
        if m:
            rows.append(LeakSiteRow(m.group(3), int(m.group(1)), int(m.group(2)), m.group(4)))
    if not rows:
        site = str(latest.attrs.get(semconv.HYPERION_MEMORY_LEAK_SITE, "?"))
        rows.append(
            LeakSiteRow(
                site,
                int(latest.attrs[semconv.HYPERION_MEMORY_LEAKED_BYTES]),
                int(latest.attrs.get(semconv.HYPERION_MEMORY_LEAKED_ALLOCATIONS, 0)),
                "pool",
            )
        )
    rows.sort(key=lambda r: -r.nbytes)
    # A report is logged to the file and to OTLP: count distinct times only.
    n = len({r.time_ns // 1_000_000 for r in reports})
    return rows, n, latest.time_ns


@dataclass(frozen=True)
class ErrorRow:
    time_ns: int
    kind: str  # span | log
    what: str  # span name or logger
    error_type: str
    message: str
    where: str


def error_rows(
    spans: list[SpanRec], logs: list[LogRec], limit: int = 100
) -> tuple[list[ErrorRow], int]:
    """Failed spans and exception/error log records, newest first, at most ``limit``."""
    rows = [
        ErrorRow(
            s.start_ns,
            "span",
            s.name,
            str(s.attrs.get(semconv.ERROR_TYPE, "")),
            s.status_message,
            "",
        )
        for s in spans
        if s.is_error
    ]
    seen: set[tuple[int, str]] = set()
    for r in logs:
        if r.severity_number < _ERROR_SEVERITY and semconv.EXCEPTION_TYPE not in r.attrs:
            continue
        key = (r.time_ns // 1_000_000, r.body[:200])
        if key in seen:  # the same record from the log file and from logs.jsonl
            continue
        seen.add(key)
        where = ""
        if semconv.CODE_FILE_PATH in r.attrs:
            where = f"{r.attrs[semconv.CODE_FILE_PATH]}:{r.attrs.get(semconv.CODE_LINE_NUMBER, '')}"
        etype = str(
            r.attrs.get(semconv.EXCEPTION_TYPE)
            or r.attrs.get(semconv.ERROR_TYPE)
            or r.severity_text
        )
        message = str(r.attrs.get(semconv.EXCEPTION_MESSAGE) or r.body)
        rows.append(
            ErrorRow(
                r.time_ns,
                "log",
                str(r.attrs.get("logger", "") or r.source),
                etype,
                message.splitlines()[0] if message else "",
                where,
            )
        )
    rows.sort(key=lambda e: -e.time_ns)
    return rows[:limit], len(rows)
