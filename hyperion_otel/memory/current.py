"""The current pool and the guide's module-level memory-debugger functions.

``init_memory`` creates a pool, installs it as the runtime's allocator and makes it current;
``shutdown_memory`` closes it and restores the allocator from before. Every function works
without ``configure()``: the read-only ones (``get_memory_debug_info``, ``get_heap_stats``,
``check_memory_corruption``) answer with zeros when no pool exists; the ones that turn
something on (``enable_memory_debug``, ``enable_stack_traces(True)``) first create and install
a default pool (``MemoryConfig()``: 64 MiB up front, 4 GiB budget).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy.typing as npt
from opentelemetry.trace import Span

from hyperion_otel._seams import span_hooks
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.memory import _metrics
from hyperion_otel.memory._span_meter import SpanMemory
from hyperion_otel.memory.config import MemoryConfig, MemoryDebugConfig
from hyperion_otel.memory.heap import HeapStats
from hyperion_otel.memory.pool import MemoryPool
from hyperion_otel.memory.tracker import MemoryDebugInfo, format_trace

__all__ = [
    "check_memory_corruption",
    "current_pool",
    "enable_memory_debug",
    "enable_stack_traces",
    "get_allocation_trace",
    "get_heap_stats",
    "get_memory_debug_info",
    "init_memory",
    "shutdown_memory",
]

_lock = threading.RLock()
_current: MemoryPool | None = None


def current_pool() -> MemoryPool | None:
    """The pool made current by ``init_memory`` (None before, or after ``shutdown_memory``)."""
    pool = _current
    return pool if pool is not None and not pool.closed else None


def _span_hook(span: Span, role: span_hooks.Role) -> SpanMemory | None:
    """Pool bytes allocated and peak during every runtime span (see ``spans``)."""
    pool = current_pool()
    return SpanMemory(pool, span) if pool is not None else None


@public
def init_memory(config: MemoryConfig | None = None) -> MemoryPool:
    """Create a pool from ``config``, install it as the runtime's allocator, make it current.

    A pool that was current before is closed first (its arrays stay valid). Undo with
    ``shutdown_memory()`` or ``pool.close()``; both restore the allocator from before.
    While a pool is current the runtime's generate, prefill and decode spans get its
    ``hyperion.memory.*`` figures (a span hook, removed by ``shutdown_memory()`` and by
    closing the current pool).
    """
    global _current
    if config is not None and not isinstance(config, MemoryConfig):
        raise InvalidInputError(
            f"init_memory expects a MemoryConfig, got {config!r}", value=repr(config)
        )
    with _lock:
        if _current is not None:
            _current.close()
            _current = None
        pool = MemoryPool(config)
        pool.install()
        _current = pool
        span_hooks.add(_span_hook)
        pool._on_close.append(lambda: _retire(pool))
    _metrics.register(current_pool)
    return pool


def shutdown_memory() -> None:
    """Close the current pool (restoring the previous allocator and faulthandler state)."""
    global _current
    with _lock:
        pool, _current = _current, None
        span_hooks.remove(_span_hook)
    if pool is not None:
        pool.close()


def _retire(pool: MemoryPool) -> None:
    """``pool.close()`` of the current pool: no current pool, no span hook."""
    global _current
    with _lock:
        if _current is pool:
            _current = None
            span_hooks.remove(_span_hook)


def _ensure_pool() -> MemoryPool:
    with _lock:
        pool = current_pool()
        return pool if pool is not None else init_memory(MemoryConfig())


@public
def enable_memory_debug(config: MemoryDebugConfig | None = None) -> MemoryPool:
    """Turn allocation tracking (and optionally stack traces) on for the current pool.

    Creates and installs a default pool first if none is current. Returns the pool.
    """
    if config is not None and not isinstance(config, MemoryDebugConfig):
        raise InvalidInputError(
            f"enable_memory_debug expects a MemoryDebugConfig, got {config!r}", value=repr(config)
        )
    cfg = config or MemoryDebugConfig()
    pool = _ensure_pool()
    pool.set_tracking(
        cfg.track_allocations, cfg.track_stack_traces, cfg.stack_depth, cfg.max_tracked_allocations
    )
    return pool


@public
def enable_stack_traces(on: bool = True, depth: int | None = None) -> None:
    """Capture (or stop capturing) the allocating call stack of future allocations.

    Turning traces on also turns tracking on; turning them off keeps tracking (the
    allocating line is still recorded).
    """
    if not isinstance(on, bool):
        raise InvalidInputError(f"enable_stack_traces expects a bool, got {on!r}", value=repr(on))
    if depth is not None:
        MemoryDebugConfig(stack_depth=depth)  # validates
    pool = _ensure_pool() if on else current_pool()
    if pool is not None:
        pool.set_tracking(pool.tracking or on, on, depth)


@public
def get_memory_debug_info() -> MemoryDebugInfo:
    """Counters of the current pool (all zero when there is none)."""
    pool = current_pool()
    return pool.debug_info() if pool is not None else MemoryDebugInfo()


@public
def get_heap_stats() -> HeapStats:
    """Heap statistics of the current pool (all zero when there is none)."""
    pool = current_pool()
    return pool.heap_stats() if pool is not None else HeapStats()


@public
def check_memory_corruption() -> int:
    """Verify the canaries of every live allocation of the current pool.

    Raises ``HyperionMemoryError`` naming each damaged allocation and the file and line that
    allocated it. Returns the number of allocations checked (0 when the pool was not
    created with ``check_corruption=True``, or when there is no pool).
    """
    pool = current_pool()
    return pool.check_corruption() if pool is not None else 0


@public
def get_allocation_trace(array: npt.NDArray[Any]) -> str:
    """Where ``array`` was allocated: a header line and a traceback-style stack.

    ``array`` may be a view into the allocation. Raises ``InvalidInputError`` if the array
    is not live memory of the current pool.
    """
    if not hasattr(array, "__array_interface__"):
        raise InvalidInputError(
            f"get_allocation_trace expects a numpy array, got {type(array).__name__}",
            value=type(array).__name__,
        )
    pool = current_pool()
    rec = pool.find(array) if pool is not None else None
    if pool is None or rec is None:
        raise InvalidInputError(
            "get_allocation_trace: the array is not a live allocation of the current memory "
            "pool (allocate it with MemoryPool.allocate after init_memory)",
            value=f"array of shape {getattr(array, 'shape', '?')}",
        )
    return format_trace(rec, pool.stacks)
