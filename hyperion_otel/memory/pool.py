"""``MemoryPool``: the arena allocator the runtime takes its tensors from.

Memory comes from numpy byte segments (``initial_pool_size`` reserved up front, more
segments added on demand up to ``max_pool_size``); blocks are 64-byte aligned and freed
blocks coalesce; with tensor reuse on, freed blocks first go to per-size bins and are
handed out again in O(1) (see ``_arena``). A request that would take the pool past its
budget raises ``HyperionMemoryError`` naming the usage and the biggest holders, instead of
letting the OS kill the process. Arrays are views into a segment.

Hot path: ``free`` finds the record by the identity of the array it handed out (falling
back to the data pointer for a view that starts at the same byte); stacks are captured by
a bounded inline frame walk and interned (see ``_stacks``). Measured cost is a few
microseconds per allocate+free pair with stacks 16 deep.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import HyperionMemoryError, InvalidInputError, public
from hyperion_otel.errors._boundary import BOUNDARY_CODE
from hyperion_otel.memory import _report, optimizer
from hyperion_otel.memory._arena import ALIGN, Arena
from hyperion_otel.memory._shapes import DTYPES, as_dtype, as_shape
from hyperion_otel.memory._stacks import StackTable, capture_key
from hyperion_otel.memory.config import MemoryConfig
from hyperion_otel.memory.guard import (
    CANARY_BACK_MIN,
    CANARY_FRONT,
    FAULT_HANDLER,
    GuardRegion,
    check_canaries,
    require_guard_pages,
    write_canaries,
)
from hyperion_otel.memory.heap import HeapStats
from hyperion_otel.memory.tracker import Alloc, AllocationInfo, MemoryDebugInfo, describe

__all__ = ["MAX_OPEN_WINDOWS", "MemoryPool"]

MAX_OPEN_WINDOWS = 256  # span measurements open at once (see spans)
_MAX_RETIRED = 4096  # freed guard-page addresses remembered to catch double frees
_log = logging.getLogger("hyperion.memory.pool")
_get_span = trace.get_current_span
_getframe = sys._getframe


def _caller(skip: int = 0) -> Any:
    """The frame that called ``allocate`` (``skip`` more levels in), past its public boundary."""
    f = _getframe(skip + 2)
    return f.f_back if f.f_code is BOUNDARY_CODE else f


@public
class MemoryPool:
    """Arena allocator with budget, tracking and the debug modes of ``MemoryConfig``.

    Thread-safe. ``allocate`` returns an uninitialised C-contiguous array; ``free`` gives it
    back (using the array afterwards is a bug that guard pages catch). Arrays not made by
    this pool are ignored by ``free`` (like the plain numpy allocator) so the pool can be
    installed while tensors from before are still alive. ``close()`` restores the allocator
    that was installed before ``install()`` and undoes every hook the pool set.
    """

    def __init__(self, config: MemoryConfig | None = None) -> None:
        if config is not None and not isinstance(config, MemoryConfig):
            raise InvalidInputError(
                f"MemoryPool expects a MemoryConfig, got {config!r}", value=repr(config)
            )
        cfg = config or MemoryConfig()
        if cfg.enable_guard_pages:
            require_guard_pages()
        self.config = cfg
        self._lock = threading.Lock()
        self._closed = False
        self._installed = False
        self._previous: _allocator.Allocator | None = None
        # Undos of what was installed along with this pool (init_memory's span hook).
        self._on_close: list[Callable[[], None]] = []
        self._guard = cfg.enable_guard_pages
        self._canary = cfg.check_corruption and not cfg.enable_guard_pages
        self._extra = CANARY_FRONT + CANARY_BACK_MIN if self._canary else 0
        self._front = CANARY_FRONT if self._canary else 0
        self._optimize = cfg.enable_optimization
        self._arena = Arena(0 if self._guard else cfg.initial_pool_size, cfg.max_pool_size)
        self._caps: dict[int, int] = {}  # token -> bytes: budget caps in force (resource limits)
        self._cap_tokens = 0
        self._guard_reserved = 0  # bytes of live guard regions
        self._retired: OrderedDict[int, None] = OrderedDict()
        self._live: dict[int, Alloc] = {}  # data address -> record
        self._by_obj: dict[int, Alloc] = {}  # id(array handed out) -> record
        self._used = 0  # block bytes handed out
        self._used_peak = 0
        self._next_id = 1
        self._active_bytes = 0  # requested bytes live
        self._peak_bytes = 0
        self._total_bytes = 0
        self._total_allocations = 0
        self._hw = 0  # high-water of active bytes since the last span window opened
        self._windows: list[list[int]] = []  # [start_total_bytes, peak] per open window
        self._stacks = StackTable(cfg.max_stacks)
        self._max_tracked = cfg.max_tracked_allocations
        self._tracked_live = 0
        self._dropped_records = 0
        self._track = self._traces = False
        self._stack_depth = cfg.stack_depth
        self._depth = 0  # frames captured per allocation: 0 (off), 1 (site), stack_depth
        # Canary errors name the allocating line, so that mode records at least the site.
        self.set_tracking(cfg.track_allocations or cfg.check_corruption, cfg.track_stack_traces)
        if self._guard:
            FAULT_HANDLER.acquire()

    # ---------------------------------------------------------------- configuration
    def set_tracking(
        self,
        allocations: bool,
        stack_traces: bool,
        depth: int | None = None,
        max_tracked: int | None = None,
    ) -> None:
        """Turn per-allocation records / stack capture on or off for future allocations."""
        with self._lock:
            self._track = bool(allocations or stack_traces)
            self._traces = bool(stack_traces)
            if depth is not None:
                self._stack_depth = depth
            if max_tracked is not None:
                self._max_tracked = max_tracked
            self._depth = (self._stack_depth if self._traces else 1) if self._track else 0

    @property
    def max_pool_size(self) -> int:
        """The budget in force: ``config.max_pool_size``, or lower while capped."""
        return self._arena.maximum

    def cap_budget(self, max_bytes: int) -> int:
        """Lower the budget to at most ``max_bytes`` until ``uncap_budget(token)``.

        Caps nest and the lowest wins; an allocation that would grow the pool past it
        raises ``HyperionMemoryError``. Blocks the pool already holds stay (a cap below
        ``reserved_bytes`` only stops growth). The resource governor caps the pool at the
        headroom under ``max_memory_mb`` around each unit of a limited model's work.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise InvalidInputError(
                f"cap_budget expects a byte count >= 0, got {max_bytes!r}", value=repr(max_bytes)
            )
        with self._lock:
            self._cap_tokens += 1
            self._caps[self._cap_tokens] = max_bytes
            self._arena.maximum = min([self.config.max_pool_size, *self._caps.values()])
            return self._cap_tokens

    def uncap_budget(self, token: int) -> None:
        """Remove the cap ``cap_budget`` returned ``token`` for (unknown tokens are ignored)."""
        with self._lock:
            if self._caps.pop(token, None) is not None:
                self._arena.maximum = min([self.config.max_pool_size, *self._caps.values()])

    @property
    def tracking(self) -> bool:
        return self._track

    @property
    def stack_traces(self) -> bool:
        return self._traces

    @property
    def closed(self) -> bool:
        return self._closed

    def install(self) -> None:
        """Become the allocator the runtime uses (``hyperion_otel._seams.allocator``)."""
        with self._lock:
            if self._closed:
                raise HyperionMemoryError("cannot install a closed MemoryPool")
            if self._installed:
                return
            self._installed = True
        self._previous = _allocator.set_allocator(self)

    def close(self) -> None:
        """Restore the previous allocator and faulthandler state; later allocations fail.

        Closing the current pool (``init_memory``'s) also undoes what ``init_memory`` added:
        no pool is current and the runtime spans' memory hook is removed.

        Arrays handed out stay valid (numpy keeps their segments alive); freeing them after
        close is a no-op.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            installed, self._installed = self._installed, False
            self._arena = Arena(0, self.config.max_pool_size)
            self._caps.clear()
            self._live, self._by_obj, self._windows = {}, {}, []
            self._retired.clear()
            self._guard_reserved = 0
        if installed and _allocator.get_allocator() is self:
            _allocator.set_allocator(self._previous)
        self._previous = None
        if self._guard:
            FAULT_HANDLER.release()
        undo, self._on_close = self._on_close, []
        for fn in reversed(undo):
            fn()

    def __enter__(self) -> MemoryPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- hot path
    def allocate(
        self, shape: tuple[int, ...] | int, dtype: npt.DTypeLike = np.float32
    ) -> npt.NDArray[Any]:
        """Uninitialised C-contiguous array of ``shape`` and ``dtype`` from the pool."""
        if type(shape) is not tuple:
            shape = as_shape(shape)
        dt = DTYPES.get(dtype) if type(dtype) is type else None
        if dt is None:
            dt = as_dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        if type(nbytes) is not int or nbytes < 0:
            shape = as_shape(shape)  # numpy ints become ints; floats and the like are refused
            nbytes = math.prod(shape) * dt.itemsize
            if nbytes < 0:  # an even number of negative dims is caught by np.ndarray below
                raise InvalidInputError(
                    f"shape {shape} has a negative dimension", stacklevel=2, value=repr(shape)
                )
        if self._guard:
            return self._allocate_guarded(shape, dt, nbytes)
        size = (nbytes + self._extra + ALIGN - 1) & -ALIGN or ALIGN
        depth = self._depth
        if depth:
            start = _caller()
            key = capture_key(start, depth)
        with self._lock:
            if self._closed:
                raise HyperionMemoryError("allocate() on a closed MemoryPool", stacklevel=2)
            block = self._arena.take(size)
            if block is None:
                raise _report.budget_error(self, size, shape, dt)
            seg, off = block
            rec = Alloc(
                seg.base + off + self._front, seg, off, size, nbytes, self._next_id, shape, dt
            )
            self._next_id += 1
            self._account(rec)
        if self._arena.events:
            self._log_events()
        if self._canary:
            write_canaries(seg.buf, off, off + CANARY_FRONT, nbytes, off + size)
        try:
            # Positional arguments: numpy parses keywords to ndarray() several times slower.
            out: npt.NDArray[Any] = np.ndarray(shape, dt, seg.buf, off + self._front)
        except (TypeError, ValueError) as exc:
            self._release(rec)
            raise InvalidInputError(
                f"cannot make an array of shape {shape!r} and dtype {dt}: {exc}",
                stacklevel=2,
                value=repr(shape),
            ) from exc
        # The record holds the array itself: ``free`` finds it by identity (no data-pointer
        # read), and the id cannot be reused while the record exists.
        rec.array = out
        self._by_obj[id(out)] = rec
        if depth and rec.tracked:
            sid = self._stacks.ids.get(key)
            rec.stack = sid if sid is not None else self._stacks.add(key, start, depth)
        return out

    def _account(self, rec: Alloc) -> None:
        """Counters and record bookkeeping for a new block (caller holds the lock)."""
        self._live[rec.addr] = rec
        used = self._used + rec.size
        self._used = used
        if used > self._used_peak:  # noqa: PLR1730 - hot path, max() is slower
            self._used_peak = used
        a = self._active_bytes + rec.nbytes
        self._active_bytes = a
        if a > self._peak_bytes:  # noqa: PLR1730
            self._peak_bytes = a
        if a > self._hw:  # noqa: PLR1730
            self._hw = a
        self._total_bytes += rec.nbytes
        self._total_allocations += 1
        if self._track:
            if self._tracked_live < self._max_tracked:
                self._tracked_live += 1
                rec.tracked = True
                rec.time = time.time()
                rec.thread = threading.get_ident()
                rec.span = _get_span().get_span_context()
            else:
                self._dropped_records += 1

    def free(self, array: npt.NDArray[Any]) -> None:
        """Give back an array from ``allocate`` (or a view starting at the same byte)."""
        rec = self._by_obj.get(id(array))
        if rec is None or rec.array is not array:
            rec = self._lookup_for_free(array)
            if rec is None:
                return
        damaged = self._release(rec)
        if self._arena.events:
            self._log_events()
        if damaged is not None:
            raise damaged

    def _log_events(self) -> None:
        """Log segment growth/release (DEBUG, ``hyperion.memory.pool``) outside the lock."""
        with self._lock:
            events, self._arena.events = self._arena.events, []
        for what, nbytes, reserved in events:
            _log.debug(
                "memory pool %s by %d bytes to %d",
                what,
                nbytes,
                reserved,
                extra={
                    semconv.HYPERION_MEMORY_SEGMENT_BYTES: nbytes,
                    semconv.HYPERION_MEMORY_POOL_BYTES: reserved,
                },
            )

    def _lookup_for_free(self, array: Any) -> Alloc | None:
        try:
            addr = array.__array_interface__["data"][0]
        except AttributeError:
            raise InvalidInputError(
                f"free() expects a numpy array, got {type(array).__name__}",
                stacklevel=3,
                value=type(array).__name__,
            ) from None
        with self._lock:
            rec = self._live.get(addr)
            if rec is None and (addr in self._retired or self._arena.contains(addr)):
                raise HyperionMemoryError(
                    f"free() of address 0x{addr:x}, inside the pool but not the start of a live "
                    "allocation: a double free, or a view that does not start where the "
                    "allocation starts",
                    stacklevel=3,
                    address=addr,
                )
        return rec  # None: not ours, left to the garbage collector as the numpy allocator does

    def _release(self, rec: Alloc) -> HyperionMemoryError | None:
        with self._lock:
            if self._live.pop(rec.addr, None) is not rec:
                return None  # freed concurrently by another thread, or the pool was closed
            self._by_obj.pop(id(rec.array), None)
            rec.array = None
            self._used -= rec.size
            self._active_bytes -= rec.nbytes
            if rec.tracked:
                self._tracked_live -= 1
            seg = rec.owner
            if self._guard:
                self._guard_reserved -= seg.length
                seg.retire()
                self._retired[rec.addr] = None
                if len(self._retired) > _MAX_RETIRED:
                    self._retired.popitem(last=False)
                return None
            damaged = None
            if self._canary:
                bad = check_canaries(
                    seg.buf,
                    rec.offset,
                    rec.offset + CANARY_FRONT,
                    rec.nbytes,
                    rec.offset + rec.size,
                )
                if bad is not None:
                    damaged = _report.corruption_error(rec, bad, self._stacks, "free()")
            opt = (
                (optimizer._current or optimizer.get_memory_optimizer()) if self._optimize else None
            )
            arena = self._arena
            arena.give(seg, rec.offset, rec.size, opt is not None and opt.reuse_enabled)
            if opt is not None and seg.live == 0 and seg is not arena.segments[0]:
                cfg = self.config
                arena.release_idle(
                    seg, opt.retained_bytes(cfg.initial_pool_size, cfg.max_pool_size)
                )
            return damaged

    def _allocate_guarded(
        self, shape: tuple[int, ...], dt: np.dtype[Any], nbytes: int
    ) -> npt.NDArray[Any]:
        with self._lock:
            if self._closed:
                raise HyperionMemoryError("allocate() on a closed MemoryPool", stacklevel=3)
            length = GuardRegion.length_for(nbytes)
            if self._guard_reserved + length > self._arena.maximum:
                raise _report.budget_error(self, length, shape, dt)
            region = GuardRegion(nbytes)
            self._guard_reserved += region.length
            rec = Alloc(
                region.data_addr(nbytes),
                region,
                0,
                region.data_len,
                nbytes,
                self._next_id,
                shape,
                dt,
            )
            self._next_id += 1
            self._retired.pop(rec.addr, None)
            self._account(rec)
        out = region.array(shape, dt, nbytes)
        rec.array = out
        self._by_obj[id(out)] = rec
        if self._depth and rec.tracked:
            frame = _caller(1)
            key = capture_key(frame, self._depth)
            sid = self._stacks.ids.get(key)
            rec.stack = sid if sid is not None else self._stacks.add(key, frame, self._depth)
        return out

    # ---------------------------------------------------------------- inspection
    @property
    def reserved_bytes(self) -> int:
        """Bytes the pool holds: all segments, or all guard regions in guard-page mode."""
        return self._guard_reserved if self._guard else self._arena.reserved

    def debug_info(self) -> MemoryDebugInfo:
        with self._lock:
            return MemoryDebugInfo(
                active_allocations=len(self._live),
                total_allocations=self._total_allocations,
                active_bytes=self._active_bytes,
                peak_bytes=self._peak_bytes,
                total_bytes=self._total_bytes,
                tracking=self._track,
                stack_traces=self._traces,
                tracked_allocations=self._tracked_live,
                dropped_records=self._dropped_records,
                interned_stacks=len(self._stacks),
            )

    def heap_stats(self) -> HeapStats:
        with self._lock:
            return _report.heap_stats(self)

    def live_records(self, since_id: int = 0) -> list[Alloc]:
        """Records of live allocations with an id above ``since_id`` (a snapshot)."""
        with self._lock:
            return [r for r in self._live.values() if r.id > since_id]

    @property
    def last_allocation_id(self) -> int:
        return self._next_id - 1

    @property
    def stacks(self) -> StackTable:
        return self._stacks

    def find(self, array: npt.NDArray[Any]) -> Alloc | None:
        """The live allocation whose memory holds ``array``'s first byte, if any."""
        addr = array.__array_interface__["data"][0]
        with self._lock:
            rec = self._live.get(addr)
            if rec is not None:
                return rec
            return next(
                (r for r in self._live.values() if r.addr <= addr < r.addr + max(r.nbytes, 1)), None
            )

    def describe(self, array: npt.NDArray[Any]) -> AllocationInfo | None:
        rec = self.find(array)
        return None if rec is None else describe(rec, self._stacks)

    def check_corruption(self) -> int:
        """Verify the canaries of every live block; returns how many were checked.

        Raises ``HyperionMemoryError`` naming every damaged allocation (id, dtype and shape,
        side and offset of the first bad byte, allocating file and line).
        """
        if not self._canary:
            return 0
        with self._lock:
            records = list(self._live.values())
        errors = []
        for rec in records:
            bad = check_canaries(
                rec.owner.buf,
                rec.offset,
                rec.offset + CANARY_FRONT,
                rec.nbytes,
                rec.offset + rec.size,
            )
            if bad is not None:
                errors.append(
                    _report.corruption_error(rec, bad, self._stacks, "check_memory_corruption()")
                )
        if errors:
            raise _report.merge_corruption(errors)
        return len(records)

    # ---------------------------------------------------------------- span windows
    def open_window(self) -> list[int]:
        """Start measuring bytes allocated and peak active bytes (see ``spans``)."""
        with self._lock:
            for w in self._windows:  # fold the high-water so far into the open windows
                w[1] = max(w[1], self._hw)
            self._hw = self._active_bytes
            w = [self._total_bytes, self._active_bytes]
            self._windows.append(w)
            if len(self._windows) > MAX_OPEN_WINDOWS:
                del self._windows[0]
            return w

    def close_window(self, w: list[int]) -> tuple[int, int]:
        """``(bytes allocated, peak active bytes)`` since ``open_window`` returned ``w``."""
        with self._lock:
            for x in self._windows:
                x[1] = max(x[1], self._hw)
            self._windows = [x for x in self._windows if x is not w]
            return self._total_bytes - w[0], w[1]
