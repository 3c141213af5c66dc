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
    "distinct_errors",
    "error_rows",
    "find_requests",
    "leak_sites",
    "pool_peaks",
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
    """Bucket counts of ``metric`` over every run in the files: each series' latest point
    (cumulative temporality), summed over series that share the bucket bounds. A series is
    one process's (``run``, and the series start) attribute set: two runs with the same
    attributes are two series, not one whose latest point hides the other."""
    latest: dict[tuple[object, ...], PointRec] = {}
    for p in points:
        if p.metric != metric or p.kind != "histogram":
            continue
        key = (p.run, p.start_ns, *sorted((k, str(v)) for k, v in p.attrs.items()))
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
    """Latency of every decode token (s) of every request, and where the values come from.

    A request run with generation debug has a span per decode step: its tokens get their
    own durations. Any other request only has its decode span: each of its decode tokens
    gets the request's mean (decode duration / decode steps). So the figure covers every
    request in the files, whichever runs had debug on.
    """
    exact: list[float] = []
    mean: list[float] = []
    n_exact = n_mean = 0
    for r in requests:
        if r.steps:
            exact.extend(s.duration_s for s in r.steps)
            n_exact += 1
        elif (t := r.tpot_s) is not None and r.decode is not None:
            n = int(r.decode.attrs.get(semconv.HYPERION_DECODE_STEPS, 0) or 0)
            mean.extend([t] * n)
            n_mean += 1
    parts = []
    if exact:
        parts.append(
            f"{len(exact)} tokens of {n_exact} request(s) timed per decode step "
            "(hyperion.decode.step spans)"
        )
    if mean:
        parts.append(
            f"{len(mean)} tokens of {n_mean} request(s) at their request's mean "
            "(decode span / decode steps)"
        )
    return exact + mean, "; ".join(parts)


def series(
    points: list[PointRec], metric: str, by: str
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """``metric``'s values over time, one series per (run, value of attribute ``by``)."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for p in points:
        if p.metric == metric and p.kind != "histogram":
            out[(p.run, str(p.attrs.get(by, metric)))].append((p.time_ns, p.value))
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


def pool_peaks(spans: list[SpanRec]) -> dict[str, list[tuple[int, int, float]]]:
    """Pool usage while the work ran, by run: (start, end, peak bytes) of every span that
    measured it (``hyperion.memory.peak_bytes``: generate, prefill, decode and decode-step
    spans), innermost spans only, so each moment is covered by its finest measurement."""
    measured = [s for s in spans if semconv.HYPERION_MEMORY_PEAK_BYTES in s.attrs]
    parents = {s.parent_id for s in measured}
    out: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for s in measured:
        if s.span_id in parents:
            continue
        out[s.run].append(
            (s.start_ns, s.end_ns, float(s.attrs[semconv.HYPERION_MEMORY_PEAK_BYTES]))
        )
    for values in out.values():
        values.sort()
    return dict(out)


def distinct_errors(spans: list[SpanRec], logs: list[LogRec]) -> int:
    """Errors that happened, each counted once however many records show it: an error log
    record (the file and OTLP copies of one record count once), plus every failed span that
    no such record points at and whose failure is not a failed child's passing up."""
    failed = {s.span_id: s for s in spans if s.is_error}
    failed_parents = {s.parent_id for s in failed.values()}
    seen: set[tuple[int, str]] = set()
    covered: set[str] = set()
    n = 0
    for r in logs:
        if r.severity_number < _ERROR_SEVERITY and semconv.EXCEPTION_TYPE not in r.attrs:
            continue
        key = (r.time_ns // 1_000_000, r.body[:200])
        if key in seen:
            continue
        seen.add(key)
        n += 1
        if r.span_id:
            covered.add(r.span_id)
    for sid, s in failed.items():
        if sid in covered or sid in failed_parents:
            continue
        # A failed span whose error was recorded on one of its ancestors (e.g. the generate
        # span's record for a failed prefill) is that same error.
        if _ancestor_in(s, failed, covered):
            continue
        n += 1
    return n


def _ancestor_in(span: SpanRec, failed: dict[str, SpanRec], covered: set[str]) -> bool:
    pid = span.parent_id
    seen = 0
    while pid and seen < 64:
        if pid in covered:
            return True
        parent = failed.get(pid)
        if parent is None:
            return False
        pid, seen = parent.parent_id, seen + 1
    return False


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
