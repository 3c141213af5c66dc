"""``set_resource_limits`` / ``get_resource_limits`` per model, and the process defaults.

A model's limits are a ``Governor`` (see ``_governor``) installed in the governor seam,
keyed by the model object. ``set_resource_limits(model, limits)`` gives it its own;
``ResourceLimits()`` (all ``None``) explicitly frees it from the process defaults; ``None``
drops its own limits so the process defaults apply again. The process defaults
(``HYPERION_MAX_*``, applied by ``configure()`` through ``apply_resource_settings``) are the
seam's default governor, which every model without limits of its own gets.
"""

from __future__ import annotations

from collections.abc import Callable

from hyperion_otel._seams import governor as _seam
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.resources import _threads
from hyperion_otel.resources._governor import Governor, governor_of
from hyperion_otel.resources._models import check_model, model_name
from hyperion_otel.resources._process_metrics import enable_process_metrics, register_limit_metrics
from hyperion_otel.resources.limits import ResourceLimits
from hyperion_otel.resources.usage import reset_cpu_mark

__all__ = ["apply_resource_settings", "get_resource_limits", "set_resource_limits"]


@public
def set_resource_limits(model: object, limits: ResourceLimits | None) -> None:
    """Apply ``limits`` to every later unit of work of ``model`` (forward, prefill, decode step).

    ``model`` is the runtime's ``Model`` or any other model object that can be weakly
    referenced (a torch module): the limits act where its runtime enters
    ``hyperion_otel._seams.governor.work(model)``, which the runtime here does around each
    unit of work.

    ``max_threads`` caps the BLAS/OpenMP pools while the model works (a process-wide
    setting, restored after each unit of work; the runtime has no worker threads of its
    own). ``max_memory_mb`` is checked against the process RSS before and after each unit,
    and against the RSS peak a unit reached when it set a new process peak (``getrusage``);
    while the unit runs, the installed memory pool may grow only by the headroom left under
    the limit (``MemoryPool.cap_budget``), so the runtime's tensors that would cross it are
    refused at their allocation. Past the limit the model raises ``ResourceLimitError`` with
    the figures (limit, RSS, peak, pool usage; ``when`` is "before", "during" or "after").
    Memory allocated outside the pool (numpy temporaries) is seen only at the unit's end,
    through RSS and its peak. ``max_cpu_percent`` sleeps between
    units of work to hold the process's CPU share (100 = one core) at the limit.
    ``None`` removes the model's own limits (the process defaults apply again).
    ``get_resource_usage(model)`` measures ``cpu_percent`` from this call on.
    """
    m = check_model(model, "set_resource_limits")
    if limits is not None and not isinstance(limits, ResourceLimits):
        raise InvalidInputError(
            f"set_resource_limits expects ResourceLimits or None, got {type(limits).__name__}",
            field="limits",
            value=repr(limits)[:80],
        )
    _threads.refresh()  # libraries loaded since the last call get capped too
    register_limit_metrics()
    if limits is None:
        _seam.clear(m)
    else:
        _seam.set_for(m, None if limits.unlimited else Governor(limits, model_name(m)))
    reset_cpu_mark(m)


def get_resource_limits(model: object) -> ResourceLimits:
    """The limits in force for ``model``: its own, else the process defaults, else none."""
    gov = governor_of(check_model(model, "get_resource_limits"))
    return gov.limits if gov is not None else ResourceLimits()


def apply_resource_settings(
    max_cpu_percent: float | None = None,
    max_memory_mb: float | None = None,
    max_threads: int | None = None,
    *,
    process_metrics: bool = True,
) -> Callable[[], None]:
    """Make these the process-default limits and turn the process metrics on; returns the undo.

    For ``configure()``: the values of ``HYPERION_MAX_CPU_PERCENT``, ``HYPERION_MAX_MEMORY_MB``
    and ``HYPERION_MAX_THREADS``. Models with limits of their own keep them. The undo puts
    back the defaults from before (if no later call replaced them) and stops the metrics.
    """
    limits = ResourceLimits(max_cpu_percent, max_memory_mb, max_threads)
    installed: Governor | None = None
    previous = None
    if not limits.unlimited:
        installed = Governor(limits)
        previous = _seam.set_default(installed)
        register_limit_metrics()
    stop_metrics = enable_process_metrics() if process_metrics else None

    def undo() -> None:
        if installed is not None and _seam.default() is installed:
            _seam.set_default(previous)
        if stop_metrics is not None:
            stop_metrics()

    return undo
