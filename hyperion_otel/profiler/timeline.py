"""Per-thread timelines of ops and traced calls, made strictly nested.

Trace viewers drop or mis-draw slices that overlap without nesting (Perfetto drops them,
speedscope rejects an evented profile). Events measured on one thread nest by
construction, but a ring buffer may have dropped some and two sources (op listener,
call tracer) read the clock at slightly different points; so every event is checked
against its parent and clamped into it if it sticks out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperion_otel.profiler.session import Profile

__all__ = ["Slice", "thread_timelines"]


@dataclass
class Slice:
    kind: str  # "op" | "call"
    name: str
    start_ns: int
    end_ns: int
    depth: int
    payload: Any  # the OpEvent or CallEvent


def _nest(slices: list[Slice]) -> tuple[list[Slice], int]:
    slices.sort(key=lambda s: (s.start_ns, -s.end_ns))
    stack: list[Slice] = []
    clamped = 0
    for s in slices:
        while stack and stack[-1].end_ns <= s.start_ns:
            stack.pop()
        if stack and s.end_ns > stack[-1].end_ns:
            s.end_ns = stack[-1].end_ns
            clamped += 1
        s.depth = len(stack)
        stack.append(s)
    return slices, clamped


def thread_timelines(profile: Profile) -> tuple[dict[int, list[Slice]], int]:
    """Ops and calls per thread ident, sorted by start and strictly nested; and how many
    events had to be clamped into their parent."""
    per_thread: dict[int, list[Slice]] = {}
    for op in profile.ops:
        per_thread.setdefault(op.thread, []).append(
            Slice("op", op.name, op.start_ns, max(op.end_ns, op.start_ns), 0, op)
        )
    for call in profile.calls:
        name = profile.frames[call.frame].name
        per_thread.setdefault(call.thread, []).append(
            Slice("call", name, call.start_ns, max(call.end_ns, call.start_ns), 0, call)
        )
    clamped = 0
    for tid, slices in per_thread.items():
        per_thread[tid], n = _nest(slices)
        clamped += n
    return per_thread, clamped
