"""Inline SVG charts: bars, a timeline, lines and a flame chart. Pure strings, no scripts,
no external resources; every chart is a standalone well-formed XML document fragment."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from hyperion_otel.report._profile import Slice

__all__ = [
    "PALETTE",
    "Segment",
    "TimelineRow",
    "bar_chart",
    "flame_chart",
    "fmt_bytes",
    "fmt_seconds",
    "line_chart",
    "nice_ticks",
    "timeline",
]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
_CHAR_W = 6.2  # approximate width of one 11 px sans-serif character
_FONT = (
    'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="11"'
)


def fmt_seconds(s: float) -> str:
    if s == 0:
        return "0"
    if abs(s) < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if abs(s) < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


class _Svg:
    def __init__(self, width: float, height: float, label: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []
        self.label = label

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, tip: str = "", extra: str = ""
    ) -> None:
        body = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0.0):.2f}" height="{max(h, 0.0):.2f}" '
            f"fill={quoteattr(fill)}{extra}>{body}</rect>"
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#ccc", width: float = 1
    ) -> None:
        self.parts.append(
            f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" '
            f'stroke={quoteattr(stroke)} stroke-width="{width}"/>'
        )

    def text(
        self, x: float, y: float, s: str, anchor: str = "start", fill: str = "#333", extra: str = ""
    ) -> None:
        self.parts.append(
            f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" fill={quoteattr(fill)}'
            f"{extra}>{escape(s)}</text>"
        )

    def polyline(self, points: Sequence[tuple[float, float]], stroke: str, tip: str = "") -> None:
        pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
        body = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<polyline points="{pts}" fill="none" stroke={quoteattr(stroke)} '
            f'stroke-width="2">{body}</polyline>'
        )

    def render(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" role="img" aria-label={quoteattr(self.label)} '
            f"{_FONT}>" + "".join(self.parts) + "</svg>"
        )


def _clip(text: str, width_px: float) -> str:
    n = int(width_px / _CHAR_W)
    if n <= 1:
        return ""
    return text if len(text) <= n else text[: max(1, n - 1)] + "…"


# --- bars ------------------------------------------------------------------------------------
def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    label: str,
    y_title: str,
    color: str = PALETTE[0],
    width: float = 760,
    height: float = 260,
    tips: Sequence[str] | None = None,
) -> str:
    """Vertical bars, one per label (histogram buckets, requests, ...)."""
    left, right, top, bottom = 56, 16, 12, 64
    svg = _Svg(width, height, label)
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = max(values, default=0) or 1
    ticks = nice_ticks(0, vmax)
    if all(float(v).is_integer() for v in values):  # counts: no 0.5 ticks
        ticks = [t for t in ticks if float(t).is_integer()] or [0.0, float(vmax)]
    ymax = max(vmax, ticks[-1])
    for t in ticks:
        y = top + plot_h * (1 - t / ymax)
        svg.line(left, y, width - right, y, "#eee")
        svg.text(left - 6, y + 4, f"{t:g}", "end", "#666")
    n = max(1, len(values))
    slot = plot_w / n
    every = max(1, math.ceil(n * 7 * _CHAR_W / plot_w / 2))  # thin out crowded labels
    for i, v in enumerate(values):
        h = plot_h * v / ymax
        x = left + i * slot
        tip = tips[i] if tips else f"{labels[i]}: {v:g}"
        bar_w = min(slot * 0.8, 48.0)
        svg.rect(x + (slot - bar_w) / 2, top + plot_h - h, bar_w, h, color, tip)
        if i % every == 0:
            cx, cy = x + slot / 2, top + plot_h + 12
            svg.text(
                cx, cy, labels[i], "end", "#555", f' transform="rotate(-35 {cx:.2f} {cy:.2f})"'
            )
    svg.line(left, top + plot_h, width - right, top + plot_h, "#999")
    svg.text(
        14,
        top + plot_h / 2,
        y_title,
        "middle",
        "#555",
        f' transform="rotate(-90 14 {top + plot_h / 2:.2f})"',
    )
    return svg.render()


# --- timeline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    start_s: float  # seconds from the chart's origin
    end_s: float
    color: str
    tip: str


@dataclass(frozen=True)
class TimelineRow:
    label: str
    segments: Sequence[Segment]


def timeline(
    rows: Sequence[TimelineRow], *, label: str, width: float = 960, row_h: float = 16
) -> str:
    """One horizontal lane per row; segments drawn in order (later ones on top)."""
    left, right, top = 180, 16, 8
    height = top + len(rows) * (row_h + 4) + 34
    svg = _Svg(width, height, label)
    t_max = max((s.end_s for r in rows for s in r.segments), default=1.0) or 1.0
    plot_w = width - left - right
    ticks = nice_ticks(0, t_max, 8)

    def x(t: float) -> float:
        return left + plot_w * t / max(t_max, ticks[-1])

    axis_y = top + len(rows) * (row_h + 4) + 4
    for t in ticks:
        svg.line(x(t), top, x(t), axis_y, "#eee")
        svg.text(x(t), axis_y + 14, fmt_seconds(t), "middle", "#666")
    for i, row in enumerate(rows):
        y = top + i * (row_h + 4)
        svg.text(left - 6, y + row_h - 4, _clip(row.label, left - 10), "end", "#333")
        for s in row.segments:
            svg.rect(x(s.start_s), y, max(x(s.end_s) - x(s.start_s), 1.0), row_h, s.color, s.tip)
    svg.line(left, axis_y, width - right, axis_y, "#999")
    svg.text(left + plot_w / 2, axis_y + 28, "seconds since the first request", "middle", "#555")
    return svg.render()


# --- lines -----------------------------------------------------------------------------------
def _byte_ticks(vmax: float) -> list[float]:
    """Round ticks in the binary unit of ``vmax`` (0, 32, 64 KiB rather than 0, 50000 B)."""
    unit = 1.0
    while vmax / unit >= 1024 and unit < 1024**3:
        unit *= 1024
    ticks = [t * unit for t in nice_ticks(0, vmax / unit)]
    # Below 1 KiB the ticks are whole bytes: no "1 B, 1 B, 0 B" axis for a tiny range.
    return sorted({float(round(t)) for t in ticks}) if unit == 1.0 else ticks


def line_chart(
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    *,
    label: str,
    x_title: str,
    y_fmt: Callable[[float], str],
    width: float = 760,
    height: float = 260,
    bytes_axis: bool = False,
) -> str:
    """Lines (name, color, [(x, y)]) on shared axes, with a legend; single points as dots."""
    left, right, top, bottom = 72, 16, 24, 40
    svg = _Svg(width, height, label)
    xs = [p[0] for _, _, pts in series for p in pts] or [0.0, 1.0]
    ys = [p[1] for _, _, pts in series for p in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    if x1 <= x0:
        x1 = x0 + 1
    yticks = _byte_ticks(max(ys) or 1) if bytes_axis else nice_ticks(0, max(ys) or 1)
    y1 = max(*ys, yticks[-1]) or 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + plot_w * (v - x0) / (x1 - x0)

    def py(v: float) -> float:
        return top + plot_h * (1 - v / y1)

    for t in yticks:
        svg.line(left, py(t), width - right, py(t), "#eee")
        svg.text(left - 6, py(t) + 4, y_fmt(t), "end", "#666")
    for t in nice_ticks(x0, x1, 6):
        svg.text(px(t), top + plot_h + 14, f"{t:g}", "middle", "#666")
    svg.line(left, top + plot_h, width - right, top + plot_h, "#999")
    svg.text(left + plot_w / 2, height - 6, x_title, "middle", "#555")
    lx: float = left
    for name, color, pts in series:
        svg.rect(lx, 6, 10, 10, color)
        svg.text(lx + 14, 15, name)
        lx += 24 + len(name) * _CHAR_W
        mapped = [(px(a), py(b)) for a, b in pts]
        if len(mapped) > 1:
            svg.polyline(mapped, color, name)
        for (a, b), (mx, my) in zip(pts, mapped, strict=True):
            svg.parts.append(
                f'<circle cx="{mx:.2f}" cy="{my:.2f}" r="2.5" fill={quoteattr(color)}>'
                f"<title>{escape(f'{name} at {a:g}: {y_fmt(b)}')}</title></circle>"
            )
    return svg.render()


# --- flame chart -----------------------------------------------------------------------------
def _flame_color(name: str) -> str:
    h = zlib.crc32(name.encode("utf-8", "replace"))
    return f"hsl({h % 50}, {70 + h % 20}%, {58 + (h >> 8) % 14}%)"


def flame_chart(
    slices: Sequence[Slice],
    *,
    label: str,
    width: float = 960,
    row_h: float = 17,
    min_px: float = 0.5,
) -> str:
    """Time left to right, callers above callees (the Chrome/speedscope "flame chart")."""
    left, right, top = 8, 24, 8  # room for the last tick's label
    depth = max((s.depth for s in slices), default=0) + 1
    height = top + depth * row_h + 30
    svg = _Svg(width, height, label)
    t0 = min((s.start_us for s in slices), default=0.0)
    t1 = max((s.start_us + s.dur_us for s in slices), default=1.0)
    span = max(t1 - t0, 1e-9)
    plot_w = width - left - right
    for s in slices:
        w = plot_w * s.dur_us / span
        if w < min_px:
            continue
        x = left + plot_w * (s.start_us - t0) / span
        y = top + s.depth * row_h
        where = f" ({s.file}:{s.line})" if s.file else ""
        svg.rect(
            x,
            y,
            w,
            row_h - 1,
            _flame_color(s.name),
            f"{s.name}{where}: {fmt_seconds(s.dur_us / 1e6)}",
        )
        text = _clip(s.name, w - 4)
        if text:
            svg.text(x + 2, y + row_h - 5, text, "start", "#222", ' pointer-events="none"')
    axis_y = top + depth * row_h + 4
    for t in nice_ticks(0, span / 1e6, 8):
        xx = left + plot_w * t * 1e6 / span
        svg.line(xx, axis_y - 3, xx, axis_y + 3, "#999")
        svg.text(xx, axis_y + 16, fmt_seconds(t), "middle", "#666")
    return svg.render()
