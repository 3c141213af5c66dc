"""The performance profiler: where inference time goes, in Python functions and model ops.

Shape: collect (sampler thread + op listener + optional call tracer) -> ``Profile`` ->
analysis (hotspots, bottlenecks) -> renderers (Chrome trace, speedscope, JSON summary).

    init_profiler(ProfilerConfig(track_functions=True, sample_interval_ms=1))
    start_profiling()
    model.generate("Hello", GenerationConfig(max_new_tokens=32))
    profile = stop_profiling()
    save_profile("profile.json")            # Perfetto / chrome://tracing
    save_profile("profile.speedscope.json") # speedscope
    print(get_hotspots(10))
    print(analyze_bottlenecks(model))

Importing this package starts nothing: threads and hooks exist only while a session runs.
"""

from __future__ import annotations

from hyperion_otel.profiler.analysis import analyze_bottlenecks
from hyperion_otel.profiler.api import (
    ProfilingHandle,
    enable_hotspot_detection,
    get_hotspots,
    init_profiler,
    is_profiling,
    last_profile,
    profiling,
    save_profile,
    start_from_settings,
    start_profiling,
    stop_profiling,
)
from hyperion_otel.profiler.bottlenecks import BottleneckReport, OpBottleneck
from hyperion_otel.profiler.calibrate import MachinePeaks, calibrate
from hyperion_otel.profiler.config import ProfilerConfig
from hyperion_otel.profiler.context import current_profile_id, profile_span
from hyperion_otel.profiler.hotspots import Hotspot, HotspotReport
from hyperion_otel.profiler.session import (
    CallEvent,
    CounterSample,
    FrameInfo,
    OpEvent,
    Profile,
    Sample,
    ThreadInfo,
)

__all__ = [
    "BottleneckReport",
    "CallEvent",
    "CounterSample",
    "FrameInfo",
    "Hotspot",
    "HotspotReport",
    "MachinePeaks",
    "OpBottleneck",
    "OpEvent",
    "Profile",
    "ProfilerConfig",
    "ProfilingHandle",
    "Sample",
    "ThreadInfo",
    "analyze_bottlenecks",
    "calibrate",
    "current_profile_id",
    "enable_hotspot_detection",
    "get_hotspots",
    "init_profiler",
    "is_profiling",
    "last_profile",
    "profile_span",
    "profiling",
    "save_profile",
    "start_from_settings",
    "start_profiling",
    "stop_profiling",
]
