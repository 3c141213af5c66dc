"""speedscope JSON (https://www.speedscope.app/file-format-schema.json).

One ``sampled`` profile per thread (Python stacks, weights in seconds of wall time) and,
when ops were recorded, one ``evented`` profile per thread with the op timeline (ops
appear as frames named ``op:<name>``).
"""

from __future__ import annotations

from typing import Any

from hyperion_otel._version import __version__
from hyperion_otel.profiler.session import CallEvent, Profile
from hyperion_otel.profiler.timeline import thread_timelines

__all__ = ["SCHEMA_URL", "to_speedscope"]

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
OP_FILE = "<hyperion op>"


def _sampled(profile: Profile, ident: int, name: str) -> dict[str, Any]:
    samples: list[list[int]] = []
    weights: list[float] = []
    for s in profile.samples:
        if s.thread == ident:
            samples.append(list(profile.stacks[s.stack]))
            weights.append(s.weight_ns / 1e9)
    return {
        "type": "sampled",
        "name": name,
        "unit": "seconds",
        "startValue": 0,
        "endValue": profile.duration_s,
        "samples": samples,
        "weights": weights,
    }


def to_speedscope(profile: Profile) -> dict[str, Any]:
    """The profile as a speedscope file object."""
    frames: list[dict[str, Any]] = [
        {"name": f.name, "file": f.file, "line": f.line} for f in profile.frames
    ]
    profiles: list[dict[str, Any]] = []
    sampled_threads = {s.thread for s in profile.samples}
    for ident, info in profile.threads.items():
        if ident in sampled_threads:
            profiles.append(_sampled(profile, ident, f"{info.name} (sampled)"))
    op_frames: dict[str, int] = {}
    timelines, _ = thread_timelines(profile)
    for ident, slices in timelines.items():
        events: list[dict[str, Any]] = []
        open_: list[tuple[int, int]] = []  # (frame, end_ns)
        for s in slices:
            while open_ and open_[-1][1] <= s.start_ns:
                frame, end = open_.pop()
                events.append({"type": "C", "frame": frame, "at": end / 1e9})
            if isinstance(s.payload, CallEvent):
                frame = s.payload.frame
            else:
                label = f"op:{s.name}"
                frame = op_frames.get(label, -1)
                if frame < 0:
                    frame = op_frames[label] = len(frames)
                    frames.append({"name": label, "file": OP_FILE})
            events.append({"type": "O", "frame": frame, "at": s.start_ns / 1e9})
            open_.append((frame, s.end_ns))
        while open_:
            frame, end = open_.pop()
            events.append({"type": "C", "frame": frame, "at": end / 1e9})
        profiles.append(
            {
                "type": "evented",
                "name": f"{profile.threads[ident].name} (ops)",
                "unit": "seconds",
                "startValue": 0,
                "endValue": profile.duration_s,
                "events": events,
            }
        )
    if not profiles:  # speedscope refuses a file without profiles
        profiles.append(
            {
                "type": "sampled",
                "name": "no samples",
                "unit": "seconds",
                "startValue": 0,
                "endValue": profile.duration_s,
                "samples": [],
                "weights": [],
            }
        )
    return {
        "$schema": SCHEMA_URL,
        "exporter": f"hyperion-otel {__version__}",
        "name": f"hyperion-otel profile {profile.profile_id}",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }
