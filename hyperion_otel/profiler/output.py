"""Writing profiles to files: format choice, the JSON summary, atomic writes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from hyperion_otel._seams.files import write_text_atomic
from hyperion_otel.errors import HyperionIOError, InvalidInputError
from hyperion_otel.profiler.chrome import to_chrome_trace
from hyperion_otel.profiler.opstats import aggregate_ops, phase_split
from hyperion_otel.profiler.session import Profile
from hyperion_otel.profiler.speedscope import to_speedscope

__all__ = ["FORMATS", "infer_format", "to_summary", "write_profile"]

FORMATS = ("chrome", "speedscope", "summary")
SUMMARY_HOTSPOTS = 20


def infer_format(path: str, format: str | None) -> str:
    """``format`` if given, else from the name: ``*.speedscope.json`` speedscope,
    ``*.summary.json`` summary, anything else Chrome trace."""
    if format is not None:
        if format not in FORMATS:
            raise InvalidInputError(
                f"unknown profile format {format!r}; expected one of {', '.join(FORMATS)}",
                format=format,
            )
        return format
    lower = os.path.basename(path).lower()
    if lower.endswith(".speedscope.json"):
        return "speedscope"
    if lower.endswith(".summary.json"):
        return "summary"
    return "chrome"


def to_summary(profile: Profile) -> dict[str, Any]:
    """Small JSON digest: counts, hotspots, ops by name, phase split, last counter values."""
    last_counters: dict[str, dict[str, float]] = {}
    for point in profile.counters:
        last_counters[point.name] = point.values
    return {
        "profile_id": profile.profile_id,
        "start_unix_ns": profile.start_unix_ns,
        "duration_s": profile.duration_s,
        "pid": profile.pid,
        "config": asdict(profile.config),
        "threads": {str(t.index): t.name for t in profile.threads.values()},
        "samples": len(profile.samples),
        "ops": len(profile.ops),
        "calls": len(profile.calls),
        "dropped": dict(profile.dropped),
        "notes": list(profile.notes),
        "hotspots": profile.hotspots(SUMMARY_HOTSPOTS).to_dict()["hotspots"],
        "op_stats": [
            {
                "name": st.name,
                "calls": st.calls,
                "total_s": st.total_ns / 1e9,
                "self_s": st.self_ns / 1e9,
                "mean_us": st.mean_us,
                "flops": st.flops,
                "bytes": st.nbytes,
                "allocations": st.allocations,
                "alloc_bytes": st.alloc_bytes,
            }
            for st in aggregate_ops(profile.ops)
        ],
        "phases_s": phase_split(profile.ops),
        "counters": last_counters,
    }


def write_profile(profile: Profile, path: str | os.PathLike[str], format: str | None) -> str:
    """Render and write atomically (temp file + rename); returns the path written."""
    target = os.fspath(path)
    if not isinstance(target, str) or not target:
        raise InvalidInputError(f"profile path must be a non-empty path, got {path!r}")
    fmt = infer_format(target, format)
    if fmt == "speedscope":
        doc = to_speedscope(profile)
    elif fmt == "summary":
        doc = to_summary(profile)
    else:
        doc = to_chrome_trace(profile)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    try:
        write_text_atomic(target, text)
    except OSError as exc:
        raise HyperionIOError(
            f"cannot write profile to {target!r}: {exc.strerror or exc}", path=target
        ) from exc
    return target
