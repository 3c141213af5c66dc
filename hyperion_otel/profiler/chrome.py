"""Chrome Trace Event JSON (opens in Perfetto, chrome://tracing and speedscope).

``X`` complete events for ops and traced calls (strictly nested per thread), ``C``
counters for memory and KV-cache series, ``M`` metadata naming the process and threads.
Timestamps are microseconds since the session start; ``otherData`` carries the wall-clock
start and the profile id so a trace can be lined up with OTel spans.
"""

from __future__ import annotations

import math
from typing import Any

from hyperion_otel import semconv
from hyperion_otel.profiler.session import CallEvent, OpEvent, Profile
from hyperion_otel.profiler.timeline import thread_timelines

__all__ = ["to_chrome_trace"]

_KV_CACHE_PREFIX = "kv_cache"
_SCALAR = (str, int, float, bool)
_SAMPLED_TID_BASE = 100_000  # sampled-stack tracks get their own tids, apart from op tracks


def _us(ns: int) -> float:
    return round(ns / 1000.0, 3)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, _SCALAR):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            pass
    return repr(value)


def _op_args(op: OpEvent) -> dict[str, Any]:
    args: dict[str, Any] = {k: _jsonable(v) for k, v in op.attrs.items()}
    args["phase"] = op.phase
    if op.allocations:
        args["allocations"] = op.allocations
        args["alloc_bytes"] = op.alloc_bytes
    if op.span_id:
        args["trace_id"] = format(op.trace_id, "032x")
        args["span_id"] = format(op.span_id, "016x")
    return args


def _sampled_slices(profile: Profile, ident: int, limit: int) -> list[tuple[int, int, int, int]]:
    """Flame chart from samples: (frame, depth, start_ns, end_ns), merging runs of samples
    that share a frame at the same depth. A sample stands for the time since the tick
    before it."""
    out: list[tuple[int, int, int, int]] = []
    open_: list[tuple[int, int]] = []  # (frame, start_ns) per depth
    last_end = 0
    for s in profile.samples:
        if s.thread != ident:
            continue
        start = max(s.t_ns - s.weight_ns, last_end)
        stack = profile.stacks[s.stack]
        keep = 0
        while keep < len(open_) and keep < len(stack) and open_[keep][0] == stack[keep]:
            keep += 1
        if start > last_end:  # a gap (thread not sampled): close everything
            keep = 0
        for depth in range(len(open_) - 1, keep - 1, -1):
            frame, t0 = open_.pop()
            out.append((frame, depth, t0, last_end))
        open_.extend((f, start) for f in stack[keep:])
        last_end = s.t_ns
        if len(out) >= limit:
            break
    for depth in range(len(open_) - 1, -1, -1):
        frame, t0 = open_.pop()
        out.append((frame, depth, t0, last_end))
    return out[:limit]


def _metadata(profile: Profile) -> list[dict[str, Any]]:
    pid = profile.pid
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "tid": 0,
            "args": {"name": f"hyperion-otel profile {profile.profile_id}"},
        },
        {
            "ph": "M",
            "name": "process_labels",
            "pid": pid,
            "tid": 0,
            "args": {"labels": f"{semconv.HYPERION_PROFILE_ID}={profile.profile_id}"},
        },
    ]
    for info in profile.threads.values():
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": pid,
                "tid": info.index,
                "args": {"name": info.name},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": info.index,
                "args": {"sort_index": info.index},
            }
        )
    return events


def _timeline_events(profile: Profile) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    timelines, clamped = thread_timelines(profile)
    for ident, slices in timelines.items():
        tid = profile.threads[ident].index
        for s in slices:
            event: dict[str, Any] = {
                "ph": "X",
                "name": s.name,
                "pid": profile.pid,
                "tid": tid,
                "ts": _us(s.start_ns),
                "dur": round((s.end_ns - s.start_ns) / 1000.0, 3),
            }
            if isinstance(s.payload, OpEvent):
                event["cat"] = "kv_cache" if s.name.startswith(_KV_CACHE_PREFIX) else "op"
                event["args"] = _op_args(s.payload)
            elif isinstance(s.payload, CallEvent):
                frame = profile.frames[s.payload.frame]
                event["cat"] = "python"
                event["args"] = {"file": frame.file, "line": frame.line}
            events.append(event)
    return events, clamped


def _sampled_events(profile: Profile) -> list[dict[str, Any]]:
    pid = profile.pid
    events: list[dict[str, Any]] = []
    for ident, info in profile.threads.items():
        slices = _sampled_slices(profile, ident, profile.config.max_events)
        if not slices:
            continue
        tid = _SAMPLED_TID_BASE + info.index
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": pid,
                "tid": tid,
                "args": {"name": f"{info.name} (sampled Python stacks)"},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": tid,
                "args": {"sort_index": tid},
            }
        )
        for frame_index, _depth, t0, t1 in slices:
            frame = profile.frames[frame_index]
            events.append(
                {
                    "ph": "X",
                    "name": frame.name,
                    "cat": "sampled",
                    "pid": pid,
                    "tid": tid,
                    "ts": _us(t0),
                    "dur": round((t1 - t0) / 1000.0, 3),
                    "args": {"file": frame.file, "line": frame.line},
                }
            )
    return events


def to_chrome_trace(profile: Profile) -> dict[str, Any]:
    """The profile as a Chrome Trace Event JSON object."""
    timeline, clamped = _timeline_events(profile)
    counters = [
        {
            "ph": "C",
            "name": p.name,
            "pid": profile.pid,
            "tid": 0,
            "ts": _us(p.t_ns),
            "cat": "counter",
            "args": dict(p.values),
        }
        for p in profile.counters
    ]
    return {
        "traceEvents": _metadata(profile) + timeline + _sampled_events(profile) + counters,
        "displayTimeUnit": "ms",
        "otherData": {
            "profile_id": profile.profile_id,
            "start_unix_ns": str(profile.start_unix_ns),
            "duration_s": str(profile.duration_s),
            "sample_interval_ms": str(profile.config.sample_interval_ms),
            "samples": str(len(profile.samples)),
            "clamped_events": str(clamped),
            "dropped": ",".join(f"{k}={v}" for k, v in sorted(profile.dropped.items())),
        },
    }
