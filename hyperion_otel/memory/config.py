"""Configuration of the memory debugger: the guide's three config structs as frozen dataclasses.

Sizes are in **bytes** (the guide's ``initial_pool_size = 1024 * 1024 * 1024``). Defaults:

- pool: 64 MiB reserved up front (virtual memory: pages are committed by the OS when first
  written), growing in segments up to a 4 GiB budget;
- tracking off, stack traces off (depth 16 when turned on), no debug allocator modes;
- at most 100,000 live allocations tracked in detail and 10,000 distinct stacks interned:
  beyond that, allocations still work and are counted but carry no site/trace.

``MemoryConfig.from_settings`` builds a config from the plain values of the
``HYPERION_MEMORY_*`` environment variables (megabytes for the pool sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperion_otel.errors import InvalidInputError, public

__all__ = [
    "DEFAULT_INITIAL_POOL_SIZE",
    "DEFAULT_MAX_POOL_SIZE",
    "DEFAULT_MAX_STACKS",
    "DEFAULT_MAX_TRACKED_ALLOCATIONS",
    "DEFAULT_STACK_DEPTH",
    "MAX_STACK_DEPTH",
    "MemoryConfig",
    "MemoryDebugConfig",
    "MemoryOptimizerConfig",
]

MiB = 1024 * 1024
DEFAULT_INITIAL_POOL_SIZE = 64 * MiB
DEFAULT_MAX_POOL_SIZE = 4096 * MiB
DEFAULT_STACK_DEPTH = 16
MAX_STACK_DEPTH = 256
DEFAULT_MAX_TRACKED_ALLOCATIONS = 100_000
DEFAULT_MAX_STACKS = 10_000


# Checks run in __post_init__, called by the generated __init__: the user's line is 4 frames up.
_POST_INIT = 4


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(
            f"{owner}.{name} must be a bool, got {value!r}",
            stacklevel=_POST_INIT,
            field=name,
            value=repr(value),
        )


def _check_int(
    owner: str,
    name: str,
    value: Any,
    low: int,
    high: int | None = None,
    stacklevel: int = _POST_INIT,
) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidInputError(
            f"{owner}.{name} must be an int {bound}, got {value!r}",
            stacklevel=stacklevel,
            field=name,
            value=repr(value),
        )


@public
@dataclass(frozen=True)
class MemoryConfig:
    """How ``init_memory`` builds the pool.

    ``track_allocations``: keep a record per live allocation (id, bytes, shape, dtype, time,
    thread, trace/span ids, allocating line). ``track_stack_traces``: also keep the call stack,
    ``stack_depth`` frames deep. ``enable_guard_pages``: debug mode, every allocation gets its
    own mmap'd region ending at a PROT_NONE page, so a write past the end faults at once (costs
    at least one page of address space per allocation plus a syscall or three; never use it
    in production; a freed array is protected too, so a use after free faults as well).
    ``check_corruption``: canary bytes around each block, verified at free and by
    ``check_memory_corruption()``; it also records the allocating line, which the error names
    (with guard pages on, canaries are not used: the fault happens at the write instead).
    ``initial_pool_size``/``max_pool_size``: bytes reserved
    up front / budget the pool never exceeds (with only ``max_pool_size`` given below 64 MiB,
    the reservation shrinks to it). ``enable_optimization``: let the pool follow the
    memory optimizer (size-class reuse, release of idle segments); off, it is a plain arena.
    ``max_tracked_allocations``/``max_stacks``: bounds on live records with details and on
    interned stacks (beyond them allocations still work, counted but without site/trace).
    """

    track_allocations: bool = False
    track_stack_traces: bool = False
    enable_guard_pages: bool = False
    check_corruption: bool = False
    initial_pool_size: int = DEFAULT_INITIAL_POOL_SIZE
    max_pool_size: int = DEFAULT_MAX_POOL_SIZE
    enable_optimization: bool = True
    stack_depth: int = DEFAULT_STACK_DEPTH
    max_tracked_allocations: int = DEFAULT_MAX_TRACKED_ALLOCATIONS
    max_stacks: int = DEFAULT_MAX_STACKS

    def __post_init__(self) -> None:
        o = "MemoryConfig"
        for name in (
            "track_allocations",
            "track_stack_traces",
            "enable_guard_pages",
            "check_corruption",
            "enable_optimization",
        ):
            _check_bool(o, name, getattr(self, name))
        _check_int(o, "initial_pool_size", self.initial_pool_size, 0)
        _check_int(o, "max_pool_size", self.max_pool_size, 1)
        if DEFAULT_INITIAL_POOL_SIZE == self.initial_pool_size > self.max_pool_size:
            # Only the budget was given, below the default reservation: reserve the budget.
            object.__setattr__(self, "initial_pool_size", self.max_pool_size)
        if self.initial_pool_size > self.max_pool_size:
            raise InvalidInputError(
                f"MemoryConfig.initial_pool_size ({self.initial_pool_size} bytes) must not exceed "
                f"max_pool_size ({self.max_pool_size} bytes)",
                stacklevel=3,
                field="initial_pool_size",
                value=repr(self.initial_pool_size),
            )
        _check_int(o, "stack_depth", self.stack_depth, 1, MAX_STACK_DEPTH)
        _check_int(o, "max_tracked_allocations", self.max_tracked_allocations, 0)
        _check_int(o, "max_stacks", self.max_stacks, 1)

    @classmethod
    def from_settings(
        cls,
        *,
        tracking: bool = False,
        stack_traces: bool = False,
        stack_depth: int = DEFAULT_STACK_DEPTH,
        guard_pages: bool = False,
        check_corruption: bool = False,
        pool_initial_mb: float = DEFAULT_INITIAL_POOL_SIZE / MiB,
        pool_max_mb: float | None = DEFAULT_MAX_POOL_SIZE / MiB,
        enable_optimization: bool = True,
    ) -> MemoryConfig:
        """Config from the values of ``HYPERION_MEMORY_TRACKING``, ``_STACK_TRACES``,
        ``_STACK_DEPTH``, ``_GUARD_PAGES``, ``_CHECK_CORRUPTION``, ``_POOL_INITIAL_MB`` and
        ``_POOL_MAX_MB``. Pool sizes are MiB here (bytes in the config); ``pool_max_mb=None``
        means "no limit", i.e. the machine's physical memory; the reservation is clipped to
        the budget. Stack traces imply tracking."""
        for name, mb in (("pool_initial_mb", pool_initial_mb), ("pool_max_mb", pool_max_mb)):
            if mb is None and name == "pool_max_mb":
                continue
            if isinstance(mb, bool) or not isinstance(mb, (int, float)) or not mb >= 0:
                raise InvalidInputError(
                    f"MemoryConfig.from_settings: {name} must be a number of MiB >= 0, got {mb!r}",
                    stacklevel=2,
                    field=name,
                    value=repr(mb),
                )
        if pool_max_mb is None:
            import psutil

            max_bytes = int(psutil.virtual_memory().total)
        else:
            max_bytes = max(1, int(pool_max_mb * MiB))
        return cls(
            track_allocations=tracking or stack_traces,
            track_stack_traces=stack_traces,
            enable_guard_pages=guard_pages,
            check_corruption=check_corruption,
            initial_pool_size=min(int(pool_initial_mb * MiB), max_bytes),
            max_pool_size=max_bytes,
            enable_optimization=enable_optimization,
            stack_depth=stack_depth,
        )


@public
@dataclass(frozen=True)
class MemoryDebugConfig:
    """What ``enable_memory_debug`` turns on for the current pool (see ``MemoryConfig``)."""

    track_allocations: bool = True
    track_stack_traces: bool = False
    stack_depth: int = DEFAULT_STACK_DEPTH
    max_tracked_allocations: int = DEFAULT_MAX_TRACKED_ALLOCATIONS

    def __post_init__(self) -> None:
        o = "MemoryDebugConfig"
        _check_bool(o, "track_allocations", self.track_allocations)
        _check_bool(o, "track_stack_traces", self.track_stack_traces)
        _check_int(o, "stack_depth", self.stack_depth, 1, MAX_STACK_DEPTH)
        _check_int(o, "max_tracked_allocations", self.max_tracked_allocations, 0)


@public
@dataclass(frozen=True)
class MemoryOptimizerConfig:
    """Memory/speed policy that the pool and the runtime follow.

    ``enable_tensor_reuse``: freed blocks are kept in per-size bins and handed out again for
    the next request of the same size (O(1) instead of a free-list search).
    ``enable_in_place_ops``: the runtime's layers share one activation buffer set (off: one
    set per layer, so more pool memory per request and every layer's activations intact).
    ``memory_speed_tradeoff`` in [0, 1]: the idle pool memory kept grows from the initial size
    at 0 (idle segments are released) to the maximum at 1; from 0.75 up the runtime also
    reserves each request's KV cache before prefill and keeps its buffers between requests
    (a second request makes no new pool allocation). Below 0.75 it frees them as a request
    ends. See ``hyperion_otel.memory.optimizer``.
    """

    enable_tensor_reuse: bool = True
    enable_in_place_ops: bool = True
    memory_speed_tradeoff: float = 0.5

    def __post_init__(self) -> None:
        o = "MemoryOptimizerConfig"
        _check_bool(o, "enable_tensor_reuse", self.enable_tensor_reuse)
        _check_bool(o, "enable_in_place_ops", self.enable_in_place_ops)
        check_tradeoff(self.memory_speed_tradeoff, stacklevel=3)


def check_tradeoff(value: Any, *, stacklevel: int = 2) -> float:
    """Validate a memory/speed tradeoff value, returning it as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise InvalidInputError(
            f"memory_speed_tradeoff must be a number in [0, 1], got {value!r}",
            stacklevel=stacklevel + 1,
            field="memory_speed_tradeoff",
            value=repr(value),
        )
    return float(value)
