"""The governor the runtime enters around each unit of work of a limited model.

``set_resource_limits`` installs one per model in the governor seam (``_seams.governor``), and
``apply_resource_settings`` one as the process default; the runtime enters
``work(model)`` of the seam around ``forward``, the prefill and each decode step. On entry the
governor caps the BLAS pools and checks RSS; on exit it restores the pools, checks RSS and
the peak the unit reached, and sleeps as the CPU throttle requires. With no limit set no
governor is installed, and the runtime pays two global reads per unit of work. Cost per
unit with every limit set: ~60 µs here (two reads of /proc/self/status, thread counts ~3 µs each).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

from hyperion_otel._seams import governor as _seam
from hyperion_otel.errors import HyperionMemoryError, ResourceLimitError
from hyperion_otel.memory import MemoryPool, current_pool
from hyperion_otel.resources import _threads
from hyperion_otel.resources._proc import MiB, rss_and_peak
from hyperion_otel.resources._throttle import CpuThrottle, Mark
from hyperion_otel.resources.limits import ResourceLimits

__all__ = ["Governor", "as_governor", "governor_of", "live_governors"]

# Serial number -> governor, so that listings come oldest first.
_registry: weakref.WeakValueDictionary[int, Governor] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()
_serial = itertools.count()


def live_governors() -> list[Governor]:
    """Governors still held by a model (or as the process default), oldest first."""
    with _registry_lock:
        return [g for _, g in sorted(_registry.items())]


def _capped_budget_error(e: HyperionMemoryError, pool: MemoryPool) -> bool:
    """True when ``e`` is the pool refusing growth past a budget lowered by a cap."""
    budget = e.details.get("max_pool_bytes")
    return (
        "requested_bytes" in e.details
        and isinstance(budget, int)
        and (budget < pool.config.max_pool_size)
    )


def as_governor(gov: object) -> Governor | None:
    """``gov`` if it is one of ours (the seam may hold another facility's context manager)."""
    return gov if isinstance(gov, Governor) else None


def governor_of(model: object) -> Governor | None:
    """The governor in force for ``model`` (its own, else the process default)."""
    return as_governor(_seam.governor_of(model))


@dataclass
class _Unit:
    """State of one unit of work in progress on one thread."""

    peak: int | None = None  # process RSS high-water mark when the unit began
    mark: Mark | None = None
    pool: MemoryPool | None = None  # the pool capped for this unit, and the cap's token
    cap: int = 0


class Governor:
    """Applies ``limits`` around each unit of work; ``model_name`` labels errors and metrics."""

    def __init__(self, limits: ResourceLimits, model_name: str | None = None) -> None:
        self.limits = limits
        self.model_name = model_name
        mb = limits.max_memory_mb
        self.limit_bytes = int(mb * MiB) if mb is not None else None
        pct = limits.max_cpu_percent
        self.throttle = CpuThrottle(pct) if pct is not None else None
        self._threads = limits.max_threads
        self._local = threading.local()
        with _registry_lock:
            _registry[next(_serial)] = self

    def __repr__(self) -> str:
        return f"Governor({self.limits}, model={self.model_name!r})"

    @property
    def throttle_s(self) -> float:
        """Seconds slept by the CPU throttle so far."""
        return self.throttle.slept_s if self.throttle is not None else 0.0

    # --- the runtime's seam ------------------------------------------------------------
    def __enter__(self) -> Governor:
        stack: list[_Unit] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        unit = _Unit()
        if self.limit_bytes is not None:
            rss, unit.peak = rss_and_peak()
            self._check(rss, None, "before")
            pool = current_pool()
            if pool is not None:
                # The pool may grow by the headroom under the limit, so that an allocation
                # that would cross it is refused at the allocation, not after the unit.
                unit.cap = pool.cap_budget(pool.reserved_bytes + self.limit_bytes - rss)
                unit.pool = pool
        acquired = False
        try:
            if self._threads is not None:
                _threads.acquire(self._threads)
                acquired = True
            if self.throttle is not None:
                unit.mark = self.throttle.begin()
        except BaseException:
            # No __exit__ will come: undo what this entry did.
            if acquired and self._threads is not None:
                _threads.release(self._threads)
            if unit.pool is not None:
                unit.pool.uncap_budget(unit.cap)
            raise
        stack.append(unit)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        unit: _Unit = self._local.stack.pop()
        try:
            if unit.pool is not None:
                unit.pool.uncap_budget(unit.cap)
                if isinstance(e, HyperionMemoryError) and _capped_budget_error(e, unit.pool):
                    rss, _ = rss_and_peak()
                    self._raise_limit(rss, None, "during", e)
            if e is None and self.limit_bytes is not None:
                # A new process peak set during this unit is this unit's peak: it catches
                # activations that were freed again before the unit ended.
                rss, peak = rss_and_peak()
                grew = peak is not None and unit.peak is not None and peak > unit.peak
                self._check(rss, peak if grew else None, "after")
        finally:
            if self._threads is not None:
                _threads.release(self._threads)
        if e is None and self.throttle is not None and unit.mark is not None:
            self.throttle.end(unit.mark)

    # --- memory ------------------------------------------------------------------------
    def _check(self, rss: int, peak: int | None, when: str) -> None:
        limit = self.limit_bytes
        assert limit is not None
        if rss <= limit and (peak is None or peak <= limit):
            return
        self._raise_limit(rss, peak, when, None)

    def _raise_limit(
        self, rss: int, peak: int | None, when: str, refused: HyperionMemoryError | None
    ) -> NoReturn:
        f: dict[str, Any] = {
            "limit_mb": self.limits.max_memory_mb,
            "rss_mb": round(rss / MiB, 1),
            "peak_rss_mb": round(peak / MiB, 1) if peak is not None else None,
            "model": self.model_name,
        }
        pool = current_pool()
        if pool is not None:
            stats = pool.heap_stats()
            f["pool_used_bytes"] = stats.used_bytes
            f["pool_bytes"] = stats.pool_bytes
            f["pool_limit_bytes"] = stats.max_pool_bytes
        if refused is not None:
            f["requested_bytes"] = refused.details.get("requested_bytes")
            raise ResourceLimitError(
                f"memory limit reached during a unit of work: the memory pool refused a "
                f"{f['requested_bytes']}-byte block that would take the process past it; "
                f"{self._describe(f)}",
                when=when,
                **f,
            ) from refused
        raise ResourceLimitError(
            f"memory limit exceeded {when} a unit of work: {self._describe(f)}", when=when, **f
        )

    def _describe(self, f: dict[str, Any]) -> str:
        who = f"model {self.model_name!r}" if self.model_name else "the process default"
        text = f"RSS {f['rss_mb']:.1f} MiB"
        if f["peak_rss_mb"] is not None:
            text += f" (peak {f['peak_rss_mb']:.1f} MiB during the unit)"
        text += f", max_memory_mb {f['limit_mb']:g} of {who}"
        if "pool_used_bytes" in f:
            text += (
                f"; memory pool: {f['pool_used_bytes'] / MiB:.1f} MiB used of "
                f"{f['pool_bytes'] / MiB:.1f} MiB held, budget {f['pool_limit_bytes'] / MiB:.1f} MiB"
            )
        return text
