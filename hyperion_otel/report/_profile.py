"""A saved profile (Chrome trace, speedscope or summary JSON) as flame-chart slices,
hotspots, memory counters and allocations per op.

The flame chart is one thread's sampled Python stacks over time (Chrome trace events of
category ``sampled``, or a speedscope profile); a trace without them falls back to the op
events (matmul, attention, ...). Depth comes from how the slices nest.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HotspotRow", "ProfileData", "Slice", "find_profile", "load_profile"]

_PEEK = 4096
_EPS_US = 0.01  # timestamps carry 3 decimals of µs: rounding may let a child poke out


@dataclass(frozen=True)
class Slice:
    name: str
    depth: int
    start_us: float
    dur_us: float
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class HotspotRow:
    name: str
    file: str
    line: int
    self_us: float
    total_us: float


@dataclass
class ProfileData:
    path: str
    format: str  # chrome | speedscope | summary
    thread: str = ""
    source: str = ""  # what the flame chart shows
    slices: list[Slice] = field(default_factory=list)
    hotspots: list[HotspotRow] = field(default_factory=list)
    counters: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (µs, values)
    op_allocs: list[tuple[str, int, int]] = field(default_factory=list)  # op, allocations, bytes
    duration_us: float = 0.0
    truncated: int = 0  # slices left out of the chart by the bound


def find_profile(directory: str, max_bytes: int = 256 * 1024 * 1024) -> str | None:
    """The newest ``*.json`` in ``directory`` that is a profile (by its first bytes)."""
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except OSError:
        return None
    paths = sorted((os.path.join(directory, n) for n in names), key=os.path.getmtime, reverse=True)
    for path in paths:
        try:
            if os.path.getsize(path) > max_bytes:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                head = f.read(_PEEK)
        except OSError:
            continue
        if '"traceEvents"' in head or "speedscope" in head or '"hotspots"' in head:
            return path
    return None


def load_profile(path: str, max_slices: int = 5000) -> ProfileData:
    """Parse ``path``; raises ValueError when it is no profile format we know."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "traceEvents" in doc:
        data = _chrome(path, doc["traceEvents"])
    elif isinstance(doc, dict) and "profiles" in doc and "shared" in doc:
        data = _speedscope(path, doc)
    elif isinstance(doc, dict) and "hotspots" in doc:
        data = ProfileData(path, "summary", duration_us=float(doc.get("duration_s", 0)) * 1e6)
        data.hotspots = [
            HotspotRow(
                h["name"],
                h.get("file", ""),
                int(h.get("line", 0)),
                float(h["self_seconds"]) * 1e6,
                float(h["total_seconds"]) * 1e6,
            )
            for h in doc["hotspots"]
        ]
        return data
    else:
        raise ValueError(f"{path}: not a Chrome trace, speedscope or summary profile")
    if not data.hotspots:
        data.hotspots = _hotspots(data.slices)
    if len(data.slices) > max_slices:
        # Keep the widest slices: those are the ones a reader can see.
        keep = sorted(data.slices, key=lambda s: s.dur_us, reverse=True)[:max_slices]
        data.truncated = len(data.slices) - len(keep)
        data.slices = sorted(keep, key=lambda s: (s.start_us, s.depth))
    return data


# --- nesting and hotspots ----------------------------------------------------------------------
def _nest(items: list[tuple[str, float, float, str, int]]) -> list[Slice]:
    """(name, start, dur, file, line) of one thread -> slices with depth by containment.

    Slices covering the same interval nest in reverse file order: the profiler writes a
    frame when it closes, so a callee comes before its caller.
    """
    order = sorted(range(len(items)), key=lambda i: (items[i][1], -items[i][2], -i))
    stack: list[float] = []  # end times of the open slices
    out = []
    for name, start, dur, file, line in (items[i] for i in order):
        while stack and stack[-1] <= start + _EPS_US:
            stack.pop()
        out.append(Slice(name, len(stack), start, dur, file, line))
        stack.append(start + dur)
    return out


def _hotspots(slices: list[Slice], top: int = 20) -> list[HotspotRow]:
    """Self time = a slice's duration minus its direct children's, summed per function."""
    child: dict[int, float] = defaultdict(float)
    open_: list[int] = []  # indices of the enclosing slices
    ordered = sorted(range(len(slices)), key=lambda i: (slices[i].start_us, slices[i].depth))
    for i in ordered:
        s = slices[i]
        while open_ and slices[open_[-1]].depth >= s.depth:
            open_.pop()
        if open_:
            child[open_[-1]] += s.dur_us
        open_.append(i)
    self_us: dict[tuple[str, str, int], float] = defaultdict(float)
    total_us: dict[tuple[str, str, int], float] = defaultdict(float)
    for i, s in enumerate(slices):
        key = (s.name, s.file, s.line)
        self_us[key] += max(0.0, s.dur_us - child[i])
        total_us[key] += s.dur_us
    ranked = sorted(self_us, key=lambda k: self_us[k], reverse=True)[:top]
    return [HotspotRow(k[0], k[1], k[2], self_us[k], total_us[k]) for k in ranked]


# --- Chrome trace ------------------------------------------------------------------------------
def _chrome(path: str, events: list[dict[str, Any]]) -> ProfileData:
    data = ProfileData(path, "chrome")
    names: dict[int, str] = {}
    sampled: dict[int, list[tuple[str, float, float, str, int]]] = defaultdict(list)
    ops: dict[int, list[tuple[str, float, float, str, int]]] = defaultdict(list)
    allocs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    t_end = 0.0
    for e in events:
        ph, tid = e.get("ph"), int(e.get("tid", 0))
        if ph == "M" and e.get("name") == "thread_name":
            names[tid] = str(e.get("args", {}).get("name", tid))
        elif ph == "X":
            args = e.get("args") or {}
            item = (
                str(e.get("name", "?")),
                float(e.get("ts", 0)),
                float(e.get("dur", 0)),
                str(args.get("file", "")),
                int(args.get("line", 0) or 0),
            )
            t_end = max(t_end, item[1] + item[2])
            (sampled if e.get("cat") == "sampled" else ops)[tid].append(item)
            if args.get("allocations"):
                acc = allocs[item[0]]
                acc[0] += int(args["allocations"])
                acc[1] += int(args.get("alloc_bytes", 0))
        elif ph == "C" and e.get("name") == "memory":
            values = {
                k: float(v) for k, v in (e.get("args") or {}).items() if isinstance(v, (int, float))
            }
            data.counters.append((float(e.get("ts", 0)), values))
            t_end = max(t_end, float(e.get("ts", 0)))
    pool, source = (sampled, "sampled Python stacks") if sampled else (ops, "op events")
    if pool:
        tid = max(pool, key=lambda t: sum(d for _, _, d, _, _ in pool[t]))
        data.slices = _nest(pool[tid])
        data.thread, data.source = names.get(tid, str(tid)), source
    data.counters.sort(key=lambda c: c[0])
    data.op_allocs = sorted(((k, v[0], v[1]) for k, v in allocs.items()), key=lambda r: -r[2])
    data.duration_us = t_end
    return data


# --- speedscope --------------------------------------------------------------------------------
def _speedscope(path: str, doc: dict[str, Any]) -> ProfileData:
    data = ProfileData(path, "speedscope")
    frames = doc["shared"]["frames"]
    profiles = doc.get("profiles") or []
    if not profiles:
        return data
    prof = max(profiles, key=lambda p: float(p.get("endValue", 0)) - float(p.get("startValue", 0)))
    scale = {"nanoseconds": 1e-3, "microseconds": 1.0, "milliseconds": 1e3, "seconds": 1e6}.get(
        prof.get("unit", "milliseconds"), 1.0
    )
    items: list[tuple[str, float, float, str, int]] = []

    def item(i: int, t0: float, dur: float) -> tuple[str, float, float, str, int]:
        f = frames[i]
        return str(f.get("name", "?")), t0, dur, str(f.get("file", "")), int(f.get("line", 0) or 0)

    if prof.get("type") == "sampled":
        t = 0.0
        open_: list[tuple[int, float]] = []  # (frame, start)
        for stack, weight in zip(prof.get("samples", []), prof.get("weights", []), strict=False):
            keep = 0
            while keep < min(len(open_), len(stack)) and open_[keep][0] == stack[keep]:
                keep += 1
            while len(open_) > keep:
                f, t0 = open_.pop()
                items.append(item(f, t0, t - t0))
            open_.extend((f, t) for f in stack[keep:])
            t += float(weight) * scale
        while open_:
            f, t0 = open_.pop()
            items.append(item(f, t0, t - t0))
        data.duration_us = t
    else:  # evented: O(pen)/C(lose) events
        starts: list[tuple[int, float]] = []
        for ev in prof.get("events", []):
            at = float(ev.get("at", 0)) * scale
            if ev.get("type") == "O":
                starts.append((int(ev["frame"]), at))
            elif starts:
                f, t0 = starts.pop()
                items.append(item(f, t0, at - t0))
            data.duration_us = max(data.duration_us, at)
    data.slices = _nest(items)
    data.thread, data.source = str(prof.get("name", "")), f"{prof.get('type', '')} stacks"
    return data
