"""The report page: one self-contained HTML document (inline CSS and SVG, no script, no
network), one section per question a reader has about a run."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from hyperion_otel import semconv
from hyperion_otel.report import _svg
from hyperion_otel.report._derive import (
    Request,
    cumulative_histogram,
    distinct_errors,
    error_rows,
    find_requests,
    leak_sites,
    pool_peaks,
    series,
    token_latencies,
)
from hyperion_otel.report._profile import ProfileData
from hyperion_otel.report._records import RunRecords, SpanRec

__all__ = ["SECTIONS", "ReportInput", "render"]

# (id, title) of every section, in page order; tests look for these ids.
SECTIONS = (
    ("timeline", "Request timeline"),
    ("token-latency", "Token latency"),
    ("ttft", "Time to first token"),
    ("memory", "Memory pool usage over time"),
    ("allocations", "Top allocation sites"),
    ("hotspots", "Hotspots (flame chart)"),
    ("errors", "Errors"),
)
_COLORS = {
    "request": "#bab0ac",
    "prefill": _svg.PALETTE[1],
    "decode": _svg.PALETTE[0],
    "error": _svg.PALETTE[3],
    "load": _svg.PALETTE[4],
}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222;
max-width:1000px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 6px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:12px}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:18px}.card span{color:#666;font-size:12px}
.empty{color:#777;font-style:italic}.note{color:#666;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#f28e2b;height:8px;display:inline-block}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
nav a{margin-right:12px;font-size:13px}pre{font-size:11px;white-space:pre-wrap}
"""


@dataclass
class ReportInput:
    directory: str
    records: RunRecords
    profile: ProfileData | None = None
    log_file: str | None = None
    notes: list[str] = field(default_factory=list)
    max_requests: int = 60


def _pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] | None = None
) -> str:
    nums = numeric or set()
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    out.extend(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in nums else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    out.append("</table>")
    return "".join(out)


def _histogram(values: Sequence[float], label: str, max_bins: int = 24) -> str:
    if len(set(values)) == 1:  # a histogram of one value shows nothing a number would not
        return _empty(f"All {len(values)} value(s) are {_svg.fmt_seconds(values[0])}.")
    bins = min(max_bins, max(6, round(2 * math.sqrt(len(values)))))
    lo, hi = min(values), max(values)
    if hi <= lo:
        hi = lo * 1.5 if lo > 0 else 1e-3
    log = lo > 0 and hi / lo > 20
    if log:
        a, b = math.log10(lo), math.log10(hi)
        edges = [10 ** (a + (b - a) * i / bins) for i in range(bins + 1)]
    else:
        edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        i = 0
        while i < bins - 1 and v >= edges[i + 1]:
            i += 1
        counts[i] += 1
    labels = [f"≤{_svg.fmt_seconds(edges[i + 1])}" for i in range(bins)]
    tips = [
        f"{_svg.fmt_seconds(edges[i])} to {_svg.fmt_seconds(edges[i + 1])}: {c}"
        for i, c in enumerate(counts)
    ]
    return _svg.bar_chart(labels, counts, label=label, y_title="count", tips=tips)


def _bucket_chart(hist: tuple[tuple[float, ...], list[int]], label: str) -> str:
    bounds, counts = hist
    if sum(1 for c in counts if c) == 1:  # one bucket holds every value: say so instead
        i = next(i for i, c in enumerate(counts) if c)
        low = _svg.fmt_seconds(bounds[i - 1]) if i > 0 else "0"
        high = _svg.fmt_seconds(bounds[i]) if i < len(bounds) else "∞"
        return _empty(f"All {counts[i]} value(s) fall in one bucket: {low} to {high}.")
    labels = [f"≤{_svg.fmt_seconds(b)}" for b in bounds] + [
        f">{_svg.fmt_seconds(bounds[-1])}" if bounds else "all"
    ]
    # Drop empty buckets at both ends: the semconv advice spans 1 ms .. 80 s.
    nz = [i for i, c in enumerate(counts) if c]
    if nz:
        lo, hi = max(0, nz[0] - 1), min(len(counts), nz[-1] + 2)
        labels, counts = labels[lo:hi], counts[lo:hi]
    return _svg.bar_chart(labels, counts, label=label, y_title="count", color=_svg.PALETTE[2])


# --- sections ----------------------------------------------------------------------------------
def _timeline(requests: list[Request], loads: list[SpanRec], limit: int) -> str:
    if not requests and not loads:
        return _empty(
            "No generate spans in traces.jsonl. Run with the default local exporters "
            "(or OTEL_TRACES_EXPORTER=otlp_file) and call model.generate()."
        )
    shown = requests[-limit:]
    starts = [r.span.start_ns for r in shown] + [s.start_ns for s in loads]
    origin = min(starts)

    def seg(s: SpanRec, color: str, what: str) -> _svg.Segment:
        return _svg.Segment(
            (s.start_ns - origin) / 1e9,
            (s.end_ns - origin) / 1e9,
            color,
            f"{what}: {_svg.fmt_seconds(s.duration_s)}",
        )

    rows = [
        _svg.TimelineRow(
            f"load {s.attrs.get(semconv.HYPERION_MODEL_NAME, '')}",
            [seg(s, _COLORS["load"], s.name)],
        )
        for s in loads
        if s.start_ns >= origin
    ]
    for i, r in enumerate(shown, 1 + len(requests) - len(shown)):
        color = _COLORS["error"] if r.span.is_error else _COLORS["request"]
        segs = [
            seg(
                r.span,
                color,
                f"{r.span.name} ({r.input_tokens} in, {r.output_tokens} out"
                + (f", error {r.span.attrs.get(semconv.ERROR_TYPE, '')}" if r.span.is_error else "")
                + ")",
            )
        ]
        if r.prefill is not None:
            segs.append(seg(r.prefill, _COLORS["prefill"], "prefill"))
        if r.decode is not None:
            segs.append(seg(r.decode, _COLORS["decode"], f"decode ({r.output_tokens} tokens)"))
        rows.append(_svg.TimelineRow(f"#{i} {r.model} {r.output_tokens} tok", segs))
    legend = "".join(f'<span style="background:{c}"></span>{k}' for k, c in _COLORS.items())
    note = (
        f'<p class="note">Showing the last {len(shown)} of {len(requests)} requests.</p>'
        if len(shown) < len(requests)
        else ""
    )
    return f'<p class="legend">{legend}</p>' + _svg.timeline(rows, label="request timeline") + note


def _token_latency(requests: list[Request], rec: RunRecords) -> str:
    values, source = token_latencies(requests)
    parts = []
    if values:
        parts.append(
            f'<p class="note">Source: {escape(source)}; {len(values)} values; p50 '
            f"{_svg.fmt_seconds(_pct(values, 0.5))}, p90 {_svg.fmt_seconds(_pct(values, 0.9))}, "
            f"max {_svg.fmt_seconds(max(values))}.</p>"
        )
        parts.append(_histogram(values, "token latency histogram"))
    hist = cumulative_histogram(rec.points, semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN)
    n_hist = sum(hist[1]) if hist is not None else 0
    if hist is not None and n_hist:
        parts.append(
            f'<p class="note">Metric {semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN} '
            f"(semconv buckets; one value per request with two or more output tokens, "
            f"{n_hist} over every run in the files):</p>"
        )
        parts.append(_bucket_chart(hist, "time per output token buckets"))
    return "".join(parts) or _empty(
        "No decode spans or time-per-token metric. HYPERION_GENERATION_DEBUG=true adds a span per "
        "decode step for exact per-token latencies."
    )


def _ttft(requests: list[Request], rec: RunRecords, limit: int) -> str:
    values = [(i, t) for i, r in enumerate(requests, 1) if (t := r.ttft_s) is not None]
    parts = []
    if values:
        v = [t for _, t in values]
        parts.append(
            f'<p class="note">{len(v)} requests; p50 {_svg.fmt_seconds(_pct(v, 0.5))}, '
            f"p90 {_svg.fmt_seconds(_pct(v, 0.9))}, max {_svg.fmt_seconds(max(v))} "
            "(request start to the start of decoding).</p>"
        )
        if len(values) <= limit:
            parts.append(
                _svg.bar_chart(
                    [f"#{i}" for i, _ in values],
                    [t * 1e3 for _, t in values],
                    label="time to first token per request",
                    y_title="ms",
                    color=_svg.PALETTE[1],
                    tips=[f"request #{i}: {_svg.fmt_seconds(t)}" for i, t in values],
                )
            )
        else:
            parts.append(_histogram(v, "time to first token histogram"))
    hist = cumulative_histogram(rec.points, semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN)
    if hist is not None and sum(hist[1]) > 0 and not values:
        parts.append(_bucket_chart(hist, "time to first token buckets"))
    return "".join(parts) or _empty("No generate spans or time-to-first-token metric in this run.")


def _memory(rec: RunRecords, profile: ProfileData | None) -> str:
    parts = []
    peaks = pool_peaks(rec.spans)
    pool = series(rec.points, semconv.METRIC_MEMORY_POOL_USAGE, semconv.HYPERION_MEMORY_STATE)
    origin = min(
        [s for runs in peaks.values() for s, _e, _v in runs]
        + [t for pts in pool.values() for t, _ in pts],
        default=0,
    )
    lines: list[tuple[str, str, list[tuple[float, float]]]] = []
    # While the work ran: the peak of each measured span, held over the span.
    for i, (_run, spans) in enumerate(sorted(peaks.items(), key=lambda kv: kv[1][0][0])):
        pts: list[tuple[float, float]] = []
        for start, end, peak in spans:
            pts += [((start - origin) / 1e9, peak), ((end - origin) / 1e9, peak)]
        name = "pool used, peak per span" + (f" (run {i + 1})" if len(peaks) > 1 else "")
        lines.append((name, _svg.PALETTE[(1 + i) % len(_svg.PALETTE)], pts))
    # At each metric export (the last one comes at shutdown, after the work).
    exported = {run: values for (run, state), values in pool.items() if state == "used"}
    for run, values in exported.items():
        name = "pool used at export" + (f" ({run})" if len(exported) > 1 else "")
        lines.append((name, "#999", [((t - origin) / 1e9, v) for t, v in values]))
    peak = max((v for _n, _c, pts in lines for _t, v in pts), default=0.0)
    if lines:
        n_spans = sum(len(v) for v in peaks.values())
        parts.append(
            f'<p class="note">Pool bytes in use: the peak of each of {n_spans} innermost '
            f"span(s) that measured it ({semconv.HYPERION_MEMORY_PEAK_BYTES}) over "
            f"{len(peaks)} run(s), and metric {semconv.METRIC_MEMORY_POOL_USAGE} "
            f"({semconv.HYPERION_MEMORY_STATE}=used) at each export; peak {_svg.fmt_bytes(peak)}.</p>"
        )
        if peak > 0:
            parts.append(
                _svg.line_chart(
                    lines,
                    label="memory pool usage",
                    x_title="seconds",
                    y_fmt=_svg.fmt_bytes,
                    bytes_axis=True,
                )
            )
        else:
            parts.append(_empty("The pool held no live allocation in any measurement."))
    if profile is not None and profile.counters:
        keys = [k for k in ("used_bytes", "live_bytes") if k in profile.counters[0][1]]
        prof_lines: list[tuple[str, str, list[tuple[float, float]]]] = [
            (k, _svg.PALETTE[i + 1], [(t / 1e6, vals.get(k, 0.0)) for t, vals in profile.counters])
            for i, k in enumerate(keys)
        ]
        if len(prof_lines) == 2 and prof_lines[0][2] == prof_lines[1][2]:
            # One line drawn exactly under the other would hide it: draw one, say so.
            merged = f"{keys[0]} = {keys[1]} (the series coincide)"
            prof_lines = [(merged, prof_lines[0][1], prof_lines[0][2])]
        parts.append(
            f'<p class="note">During the profile ({escape(os.path.basename(profile.path))}), '
            "as the profiler sampled it:</p>"
        )
        parts.append(
            _svg.line_chart(
                prof_lines,
                label="memory during the profile",
                x_title="seconds",
                y_fmt=_svg.fmt_bytes,
                bytes_axis=True,
            )
        )
    return "".join(parts) or _empty(
        "No pool metrics: the pool reports hyperion.memory.pool.usage once configure() installed it "
        "(metrics are exported every OTEL_METRIC_EXPORT_INTERVAL ms and at shutdown)."
    )


def _allocations(rec: RunRecords, profile: ProfileData | None) -> str:
    parts = []
    sites, n_reports, at = leak_sites(rec.logs)
    if sites:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at / 1e9))
        parts.append(
            f'<p class="note">Live allocations in the latest of {n_reports} leak report(s) '
            f"({when}):</p>"
        )
        top = sites[:20]
        biggest = max(s.nbytes for s in top) or 1
        parts.append(
            _table(
                ["site", "bytes", "allocations", "source", ""],
                [
                    [
                        escape(s.site),
                        _svg.fmt_bytes(s.nbytes),
                        str(s.count),
                        escape(s.source),
                        f'<span class="bar" style="width:{120 * s.nbytes / biggest:.0f}px"></span>',
                    ]
                    for s in top
                ],
                {1, 2},
            )
        )
    if profile is not None and profile.op_allocs:
        parts.append('<p class="note">Pool allocations per op during the profile:</p>')
        parts.append(
            _table(
                ["op", "allocations", "bytes"],
                [[escape(op), str(n), _svg.fmt_bytes(b)] for op, n, b in profile.op_allocs[:20]],
                {1, 2},
            )
        )
    return "".join(parts) or _empty(
        "No leak reports or per-op allocations. Set HYPERION_MEMORY_TRACKING=true and call "
        "check_memory_leaks(), or profile with track_memory."
    )


def _hotspots(profile: ProfileData | None, directory: str) -> str:
    if profile is None:
        return _empty(
            f"No profile in {directory}. Run `hyperion-otel profile -o {directory}/profile.json` "
            "or save_profile() into this directory."
        )
    what = (
        profile.thread
        if profile.source in profile.thread
        else f"{profile.thread} ({profile.source})"
    )
    parts = [
        f'<p class="note">{escape(os.path.basename(profile.path))} ({profile.format}); '
        f"thread {escape(what)}; time runs left to right, callers above callees.</p>"
    ]
    if profile.slices:
        parts.append(_svg.flame_chart(profile.slices, label="flame chart"))
        if profile.truncated:
            parts.append(f'<p class="note">{profile.truncated} narrow slices left out.</p>')
    if profile.hotspots:
        total = sum(h.self_us for h in profile.hotspots) or 1.0
        parts.append(
            _table(
                ["function", "self", "total", "% self", "location"],
                [
                    [
                        escape(h.name),
                        _svg.fmt_seconds(h.self_us / 1e6),
                        _svg.fmt_seconds(h.total_us / 1e6),
                        f"{100 * h.self_us / total:.1f}",
                        escape(f"{h.file}:{h.line}" if h.file else ""),
                    ]
                    for h in profile.hotspots[:15]
                ],
                {1, 2, 3},
            )
        )
    return "".join(parts)


def _errors(rec: RunRecords) -> str:
    rows, total = error_rows(rec.spans, rec.logs)
    if not rows:
        return _empty("No failed spans and no error or exception log records.")
    n = distinct_errors(rec.spans, rec.logs)
    note = (
        f'<p class="note">{n} error(s), shown by {total} record(s) (a failed span and its '
        "exception log record show one error); newest first"
        + (f", first {len(rows)} shown" if total > len(rows) else "")
        + ".</p>"
    )
    return note + _table(
        ["time", "kind", "where", "type", "message", "location"],
        [
            [
                time.strftime("%H:%M:%S", time.localtime(e.time_ns / 1e9))
                + f".{e.time_ns // 1_000_000 % 1000:03d}",
                e.kind,
                escape(e.what),
                escape(e.error_type),
                escape(e.message[:300]),
                escape(e.where),
            ]
            for e in rows
        ],
    )


# --- page ------------------------------------------------------------------------------------
def _cards(requests: list[Request], rec: RunRecords) -> str:
    ttfts = [t for r in requests if (t := r.ttft_s) is not None]
    tokens = sum(r.output_tokens for r in requests)
    gen_time = sum(r.span.duration_s for r in requests)
    n_err = distinct_errors(rec.spans, rec.logs)
    models = sorted({r.model for r in requests})
    cards = [
        (str(len(requests)), "requests"),
        (str(tokens), "output tokens"),
        (f"{tokens / gen_time:.1f}" if gen_time else "n/a", "tokens/s in generate"),
        (_svg.fmt_seconds(_pct(ttfts, 0.5)) if ttfts else "n/a", "TTFT p50"),
        (str(n_err), "errors"),
        (escape(", ".join(models)[:40]) or "n/a", "model(s)"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for v, k in cards)
        + "</div>"
    )


def render(data: ReportInput) -> str:
    rec = data.records
    requests = find_requests(rec.spans)
    loads = [s for s in rec.spans if s.name == semconv.SPAN_MODEL_LOAD]
    times = [s.start_ns for s in rec.spans] + [s.end_ns for s in rec.spans]
    span_text = ""
    if times:
        fmt = "%Y-%m-%d %H:%M:%S"
        span_text = (
            f"{time.strftime(fmt, time.localtime(min(times) / 1e9))} to "
            f"{time.strftime(fmt, time.localtime(max(times) / 1e9))}"
        )
    body = {
        "timeline": _timeline(requests, loads, data.max_requests),
        "token-latency": _token_latency(requests, rec),
        "ttft": _ttft(requests, rec, data.max_requests),
        "memory": _memory(rec, data.profile),
        "allocations": _allocations(rec, data.profile),
        "hotspots": _hotspots(data.profile, data.directory),
        "errors": _errors(rec),
    }
    sources = [
        *rec.files,
        *([data.log_file] if data.log_file else []),
        *([data.profile.path] if data.profile else []),
    ]
    notes = [*rec.notes, *data.notes]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hyperion-otel report: {escape(data.directory)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>hyperion-otel run report</h1>",
        f'<p class="meta">{escape(os.path.abspath(data.directory))}'
        + (f" · {escape(span_text)}" if span_text else "")
        + f" · generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>",
        _cards(requests, rec),
        "<nav>"
        + "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
        + "</nav>",
    ]
    for sid, title in SECTIONS:
        out.append(f'<section id="{sid}"><h2>{escape(title)}</h2>{body[sid]}</section>')
    out.append(
        '<h2>Sources</h2><p class="note">'
        + "<br>".join(escape(s) for s in sources)
        + ("".join(f"<br>note: {escape(n)}" for n in notes))
        + "</p>"
    )
    out.append("</body></html>")
    return "\n".join(out)
