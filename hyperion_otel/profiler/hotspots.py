"""Hotspots: the Python functions where sampled wall time is spent, hottest first.

Self time is the weight of samples whose leaf frame is the function; total time the
weight of samples with the function anywhere on the stack (once per sample, so recursion
does not count twice). Calls are exact when calls were traced (``trace_calls``); else
they are a lower bound: the number of times the function newly appeared on a thread's
sampled stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.profiler.session import Profile

__all__ = ["Hotspot", "HotspotReport", "compute_hotspots", "validate_top"]


@dataclass(frozen=True)
class Hotspot:
    name: str
    file: str
    line: int
    self_seconds: float
    total_seconds: float
    percent: float  # self time as a percentage of all sampled time
    calls: int


@public
@dataclass(frozen=True)
class HotspotReport:
    hotspots: list[Hotspot] = field(default_factory=list)
    total_seconds: float = 0.0
    sample_count: int = 0
    calls_exact: bool = False
    profile_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "total_seconds": self.total_seconds,
            "sample_count": self.sample_count,
            "calls_exact": self.calls_exact,
            "hotspots": [vars(h).copy() for h in self.hotspots],
        }

    def __str__(self) -> str:
        if not self.hotspots:
            return "no hotspots: no samples were collected"
        calls_head = "calls" if self.calls_exact else "calls>="
        lines = [
            f"Hotspots ({self.sample_count} samples, {self.total_seconds:.3f} s sampled)",
            f"{'%self':>6} {'self s':>9} {'total s':>9} {calls_head:>8}  function (file:line)",
        ]
        lines.extend(
            f"{h.percent:6.1f} {h.self_seconds:9.4f} {h.total_seconds:9.4f} {h.calls:8d}  "
            f"{h.name} ({h.file}:{h.line})"
            for h in self.hotspots
        )
        return "\n".join(lines)


def validate_top(top: object) -> int:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidInputError(f"top must be a positive int, got {top!r}", top=repr(top))
    return top


def _entries(profile: Profile) -> Counter[int]:
    """Times each frame newly appeared on its thread's sampled stack (calls lower bound)."""
    entries: Counter[int] = Counter()
    memo: dict[tuple[int, int], tuple[int, ...]] = {}
    previous: dict[int, int] = {}
    for s in profile.samples:
        prev = previous.get(s.thread, -1)
        previous[s.thread] = s.stack
        key = (prev, s.stack)
        new = memo.get(key)
        if new is None:
            stack = profile.stacks[s.stack]
            if prev < 0:
                new = tuple(set(stack))
            else:
                old = profile.stacks[prev]
                shared = 0  # frames stay "the same call" only along the common root prefix
                while shared < min(len(old), len(stack)) and old[shared] == stack[shared]:
                    shared += 1
                new = tuple(set(stack[shared:]))
            memo[key] = new
        entries.update(new)
    return entries


def compute_hotspots(profile: Profile, top: int = 10) -> HotspotReport:
    top = validate_top(top)
    by_stack: Counter[int] = Counter()
    for s in profile.samples:
        by_stack[s.stack] += s.weight_ns
    self_ns: Counter[int] = Counter()
    total_ns: Counter[int] = Counter()
    for stack_index, weight in by_stack.items():
        stack = profile.stacks[stack_index]
        if not stack:
            continue
        self_ns[stack[-1]] += weight
        for frame in set(stack):
            total_ns[frame] += weight
    all_ns = sum(by_stack.values())
    exact = profile.call_counts is not None
    calls: dict[int, int] | Counter[int] = (
        profile.call_counts if profile.call_counts is not None else _entries(profile)
    )
    ranked = sorted(self_ns, key=lambda f: (self_ns[f], total_ns[f]), reverse=True)[:top]
    hotspots = [
        Hotspot(
            name=profile.frames[f].name,
            file=profile.frames[f].file,
            line=profile.frames[f].line,
            self_seconds=self_ns[f] / 1e9,
            total_seconds=total_ns[f] / 1e9,
            percent=100.0 * self_ns[f] / all_ns if all_ns else 0.0,
            calls=calls.get(f, 0),
        )
        for f in ranked
    ]
    return HotspotReport(
        hotspots=hotspots,
        total_seconds=all_ns / 1e9,
        sample_count=len(profile.samples),
        calls_exact=exact,
        profile_id=profile.profile_id,
    )
