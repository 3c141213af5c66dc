"""Aggregates of op events: per op (and phase) totals, and the time split by phase."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from hyperion_otel.profiler.session import OpEvent

__all__ = ["OpStats", "aggregate_ops", "phase_split"]


@dataclass
class OpStats:
    key: Hashable
    name: str
    phase: str
    calls: int = 0
    total_ns: int = 0
    self_ns: int = 0
    flops: float = 0.0
    nbytes: float = 0.0
    counted_ns: int = 0  # duration of the calls that carried flops or nbytes
    allocations: int = 0
    alloc_bytes: int = 0
    parent_calls: int = 0  # calls that contained other ops

    @property
    def mean_us(self) -> float:
        return self.total_ns / self.calls / 1e3 if self.calls else 0.0

    @property
    def flops_per_s(self) -> float:
        return self.flops / (self.counted_ns / 1e9) if self.counted_ns else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.nbytes / (self.counted_ns / 1e9) if self.counted_ns else 0.0


def aggregate_ops(
    ops: Iterable[OpEvent], key: Callable[[OpEvent], Hashable] = lambda o: o.name
) -> list[OpStats]:
    """One ``OpStats`` per key, largest self time first."""
    table: dict[Hashable, OpStats] = {}
    for op in ops:
        k = key(op)
        st = table.get(k)
        if st is None:
            st = table[k] = OpStats(k, op.name, op.phase)
        dur = op.end_ns - op.start_ns
        st.calls += 1
        st.total_ns += dur
        st.self_ns += op.self_ns
        flops, nbytes = op.flops, op.nbytes
        if flops or nbytes:
            st.flops += flops
            st.nbytes += nbytes
            st.counted_ns += dur
        st.allocations += op.allocations
        st.alloc_bytes += op.alloc_bytes
        if op.self_ns < dur:
            st.parent_calls += 1
    return sorted(table.values(), key=lambda s: s.self_ns, reverse=True)


def phase_split(ops: Iterable[OpEvent]) -> dict[str, float]:
    """Seconds per phase (prefill, decode, sampling, tokenization, other), from op self
    times, so nested ops are not counted twice."""
    out: dict[str, float] = {}
    for op in ops:
        out[op.phase] = out.get(op.phase, 0.0) + op.self_ns / 1e9
    return dict(sorted(out.items(), key=lambda kv: kv[1], reverse=True))
