"""Bottleneck analysis: is each op limited by compute, by memory, or by overhead?

Roofline reasoning per op call: arithmetic intensity ``I = flops / bytes``; below the
machine's ridge (peak FLOP/s / peak bytes/s) the op can at best stream memory, above it
it can at best compute. The roofline time of a call is its work at those peaks, and its
efficiency the roofline time over the measured time. A call is *overhead-bound* when
its roofline time is below ``overhead_us`` (the cost of a Python-level dispatch) and it
runs below ``min_efficiency``: the hardware work is too small to matter and dispatch,
allocation and small-array numpy work dominate. A big op that runs slowly stays memory-
or compute-bound, with its low efficiency shown (contention or a poor kernel, not
dispatch). Calls without flops/bytes counts are overhead-bound when short or when they
only glue child ops together, else unknown. Rows group calls by op, label and phase; a
row's class is the class holding most of its time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.profiler.calibrate import MachinePeaks
from hyperion_otel.profiler.session import OpEvent

__all__ = [
    "COMPUTE",
    "MEMORY",
    "OVERHEAD",
    "UNKNOWN",
    "BottleneckReport",
    "OpBottleneck",
    "classify_ops",
]

COMPUTE, MEMORY, OVERHEAD, UNKNOWN = "compute-bound", "memory-bound", "overhead-bound", "unknown"
_CLASSES = (MEMORY, COMPUTE, OVERHEAD, UNKNOWN)


@dataclass(frozen=True)
class OpBottleneck:
    name: str  # op name plus its label, e.g. "matmul qkv"
    phase: str
    calls: int
    self_seconds: float
    percent: float  # of all op self time
    mean_us: float
    flops_per_s: float
    bytes_per_s: float
    intensity: float  # FLOPs per byte moved
    efficiency: float  # achieved / roofline bound (0 when not counted)
    bound: str
    bound_share: float  # fraction of this row's time in calls of class ``bound``


@public
@dataclass(frozen=True)
class BottleneckReport:
    recommendation: str
    peaks: MachinePeaks
    ops: list[OpBottleneck] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    by_bound: dict[str, float] = field(default_factory=dict)  # seconds per class
    total_seconds: float = 0.0
    source: str = ""
    tokens_per_s: float | None = None

    def to_table(self) -> str:
        p = self.peaks
        lines = [
            f"Recommendation: {self.recommendation}",
            "",
            f"Machine peaks: {p.flops_per_s / 1e9:.1f} GFLOP/s, {p.bytes_per_s / 1e9:.1f} GB/s "
            f"(ridge {p.ridge_intensity:.1f} FLOP/B"
            + ("; raised to rates ops reached" if p.raised_by_ops else "")
            + ("; calibration disturbed by load, FLOP/s estimated" if p.disturbed else "")
            + f"); source: {self.source}"
            + (f"; {self.tokens_per_s:.1f} tok/s" if self.tokens_per_s else ""),
        ]
        if self.phases and self.total_seconds > 0:
            split = ", ".join(
                f"{k} {100 * v / self.total_seconds:.0f}%" for k, v in self.phases.items()
            )
            lines.append(f"Time by phase: {split}")
        if self.by_bound and self.total_seconds > 0:
            split = ", ".join(
                f"{k} {100 * v / self.total_seconds:.0f}%" for k, v in self.by_bound.items() if v
            )
            lines.append(f"Time by bound: {split}")
        lines.append("")
        header = (
            f"{'op':<22} {'phase':<12} {'calls':>6} {'%time':>6} {'mean us':>9} "
            f"{'GFLOP/s':>8} {'GB/s':>7} {'FLOP/B':>7} {'eff':>5}  bound"
        )
        lines += [header, "-" * len(header)]
        for r in self.ops:
            lines.append(
                f"{r.name[:22]:<22} {r.phase[:12]:<12} {r.calls:>6} {r.percent:>6.1f} "
                f"{r.mean_us:>9.1f} {r.flops_per_s / 1e9:>8.2f} {r.bytes_per_s / 1e9:>7.2f} "
                f"{r.intensity:>7.2f} {r.efficiency:>5.2f}  {r.bound}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


def _classify(
    op: OpEvent, peaks: MachinePeaks, overhead_ns: float, min_eff: float
) -> tuple[str, float]:
    dur = max(op.end_ns - op.start_ns, 1)
    flops, nbytes = op.flops, op.nbytes
    if flops <= 0 and nbytes <= 0:
        # A container's own time is glue between its children: dispatch overhead.
        if op.self_ns < dur or op.self_ns < overhead_ns:
            return OVERHEAD, 0.0
        return UNKNOWN, 0.0
    memory_ns = nbytes / peaks.bytes_per_s * 1e9
    compute_ns = flops / peaks.flops_per_s * 1e9
    bound = MEMORY if memory_ns >= compute_ns else COMPUTE
    roofline_ns = max(memory_ns, compute_ns)
    eff = roofline_ns / dur
    if roofline_ns < overhead_ns and eff < min_eff:
        return OVERHEAD, eff
    return bound, eff


@dataclass
class _Row:
    name: str
    phase: str
    calls: int = 0
    self_ns: int = 0
    counted_ns: int = 0
    flops: float = 0.0
    nbytes: float = 0.0
    eff_weighted: float = 0.0
    by_class: dict[str, int] = field(default_factory=dict)


def classify_ops(
    ops: list[OpEvent],
    peaks: MachinePeaks,
    *,
    overhead_us: float = 20.0,
    min_efficiency: float = 0.5,
    max_rows: int = 20,
) -> tuple[list[OpBottleneck], dict[str, float], float]:
    """Rows (largest self time first, at most ``max_rows``), seconds per class, total s."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise InvalidInputError(f"max_rows must be a positive int, got {max_rows!r}")
    overhead_ns = overhead_us * 1e3
    rows: dict[tuple[str, Any, str], _Row] = {}
    by_bound = dict.fromkeys(_CLASSES, 0.0)
    for op in ops:
        label = op.attrs.get("label")
        key = (op.name, label, op.phase)
        row = rows.get(key)
        if row is None:
            name = f"{op.name} {label}" if isinstance(label, str) and label else op.name
            row = rows[key] = _Row(name, op.phase)
        bound, eff = _classify(op, peaks, overhead_ns, min_efficiency)
        row.calls += 1
        row.self_ns += op.self_ns
        row.by_class[bound] = row.by_class.get(bound, 0) + op.self_ns
        by_bound[bound] += op.self_ns / 1e9
        if op.flops > 0 or op.nbytes > 0:
            dur = op.end_ns - op.start_ns
            row.counted_ns += dur
            row.flops += op.flops
            row.nbytes += op.nbytes
            row.eff_weighted += eff * dur
    total_ns = sum(r.self_ns for r in rows.values())
    out: list[OpBottleneck] = []
    for row in sorted(rows.values(), key=lambda r: r.self_ns, reverse=True)[:max_rows]:
        bound, share_ns = max(row.by_class.items(), key=lambda kv: kv[1])
        secs = row.counted_ns / 1e9
        out.append(
            OpBottleneck(
                name=row.name,
                phase=row.phase,
                calls=row.calls,
                self_seconds=row.self_ns / 1e9,
                percent=100.0 * row.self_ns / total_ns if total_ns else 0.0,
                mean_us=row.self_ns / row.calls / 1e3,
                flops_per_s=row.flops / secs if secs else 0.0,
                bytes_per_s=row.nbytes / secs if secs else 0.0,
                intensity=row.flops / row.nbytes if row.nbytes else 0.0,
                efficiency=row.eff_weighted / row.counted_ns if row.counted_ns else 0.0,
                bound=bound,
                bound_share=share_ns / row.self_ns if row.self_ns else 1.0,
            )
        )
    return out, {k: v for k, v in by_bound.items() if v}, total_ns / 1e9
