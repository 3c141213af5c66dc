"""Pool metrics, as observable instruments read at collection time (nothing on the hot path).

- ``hyperion.memory.pool.usage`` (By, up-down counter, ``state`` = used | free)
- ``hyperion.memory.allocations`` ({allocation}, counter: allocations made since the pool
  was created)
- ``hyperion.memory.active_allocations`` ({allocation}, up-down counter)
- ``hyperion.memory.fragmentation`` (1, gauge, see ``heap``)

Registered when the first pool is installed (never at import). The callbacks read the
current pool through a module-level getter, so they keep no pool alive and report nothing
when there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry

if TYPE_CHECKING:
    from hyperion_otel.memory.pool import MemoryPool

__all__ = ["register"]

_getter: Callable[[], MemoryPool | None] | None = None


def _pool() -> MemoryPool | None:
    getter = _getter
    try:
        return getter() if getter is not None else None
    except Exception:  # noqa: BLE001 - a metrics callback must never raise
        return None


def _usage(_: CallbackOptions) -> Iterable[Observation]:
    pool = _pool()
    if pool is None:
        return []
    stats = pool.heap_stats()
    return [
        Observation(stats.used_bytes, {semconv.HYPERION_MEMORY_STATE: "used"}),
        Observation(stats.free_bytes, {semconv.HYPERION_MEMORY_STATE: "free"}),
    ]


def _allocations(_: CallbackOptions) -> Iterable[Observation]:
    pool = _pool()
    return [] if pool is None else [Observation(pool.debug_info().total_allocations)]


def _active(_: CallbackOptions) -> Iterable[Observation]:
    pool = _pool()
    return [] if pool is None else [Observation(pool.debug_info().active_allocations)]


def _fragmentation(_: CallbackOptions) -> Iterable[Observation]:
    pool = _pool()
    return [] if pool is None else [Observation(pool.heap_stats().fragmentation)]


def register(getter: Callable[[], MemoryPool | None]) -> None:
    """Point the callbacks at ``getter`` and register the instruments (idempotent)."""
    global _getter
    _getter = getter
    _telemetry.register_observable(
        semconv.METRIC_MEMORY_POOL_USAGE,
        "up_down_counter",
        _usage,
        "By",
        "Bytes of the tensor memory pool, by state (used, free)",
    )
    _telemetry.register_observable(
        semconv.METRIC_MEMORY_ALLOCATIONS,
        "counter",
        _allocations,
        "{allocation}",
        "Allocations made from the tensor memory pool",
    )
    _telemetry.register_observable(
        semconv.METRIC_MEMORY_ACTIVE_ALLOCATIONS,
        "up_down_counter",
        _active,
        "{allocation}",
        "Live allocations of the tensor memory pool",
    )
    _telemetry.register_observable(
        semconv.METRIC_MEMORY_FRAGMENTATION,
        "gauge",
        _fragmentation,
        "1",
        "1 - largest free block / free bytes of the tensor memory pool",
    )
