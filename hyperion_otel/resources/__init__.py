"""Resource limits and usage (the guide's "Resource Utilization").

Quick start::

    model = load_model("builtin:tiny")
    set_resource_limits(model, ResourceLimits(max_cpu_percent=80, max_memory_mb=1024, max_threads=1))
    model.generate("Once upon a time")
    usage = get_resource_usage(model)   # cpu_percent, rss_mb, threads, blas_threads, ...

Limits act at the boundaries of the model's units of work (``forward``, the prefill, each
decode step), through the governor seam (``hyperion_otel._seams.governor``): see ``set_resource_limits`` for what each limit
does, ``_throttle`` for the CPU throttle's method and measured accuracy. The process metrics
(``process.cpu.time``, ``process.cpu.utilization``, ``process.memory.usage``, ...) are
observable instruments read only at export time: ``enable_process_metrics()`` (or
``configure()``, through ``apply_resource_settings``) turns them on.

Importing this package has no side effects.
"""

from __future__ import annotations

from hyperion_otel.resources._process_metrics import enable_process_metrics
from hyperion_otel.resources.control import (
    apply_resource_settings,
    get_resource_limits,
    set_resource_limits,
)
from hyperion_otel.resources.limits import ResourceLimits
from hyperion_otel.resources.usage import ResourceUsage, get_resource_usage

__all__ = [
    "ResourceLimits",
    "ResourceUsage",
    "apply_resource_settings",
    "enable_process_metrics",
    "get_resource_limits",
    "get_resource_usage",
    "set_resource_limits",
]
