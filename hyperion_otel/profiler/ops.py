"""The profiler's listener on the op seam (``hyperion_otel._ops``).

Per op it stores one small list: name, attributes, thread, the OTel context the op ran
in, allocation counters and two clock readings. Everything else (nesting, self time,
phase, span ids, KV-cache counters, which span a sample belongs to) is derived when a
profile is built (``derive.py``): in place, next to BLAS calls that flush the caches,
each touched dict costs a cache miss, so the hot path does as little as possible.
The context is read again only when it changed since the previous op, to mark the span
with the profile id.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.profiler.context import SessionTags
from hyperion_otel.profiler.sampler import Sampler

__all__ = ["KV_CACHE_PREFIX", "AllocCounts", "CounterPoint", "OpRecorder", "RawOp", "Token"]

# (name, thread ident, start_ns, end_ns, self_ns, depth, attrs, allocs, alloc_bytes,
#  trace_id, span_id, phase); times relative to the session start.
RawOp = tuple[str, int, int, int, int, int, Mapping[str, Any], int, int, int, int, str]
# (t_ns relative to start, counter name, series values)
CounterPoint = tuple[int, str, dict[str, float]]
# [name, attrs, thread ident, OTel Context, allocations, alloc bytes, start_ns, end_ns]:
# allocation slots hold the counters at start, then the op's own deltas.
Token = list[Any]
NAME, ATTRS, TID, CTX, ALLOCS, ABYTES, T0, T1 = range(8)

KV_CACHE_PREFIX = "kv_cache"
_clock = time.perf_counter_ns
_ident = threading.get_ident
_current_context = otel_context.get_current


class AllocCounts:
    """Running totals bumped by the counting allocator (ints: updates are GIL-atomic enough)."""

    __slots__ = ("count", "freed_bytes", "nbytes")

    def __init__(self) -> None:
        self.count = 0
        self.nbytes = 0
        self.freed_bytes = 0


class OpRecorder:
    """``OpListener`` that records the ops of a session into a bounded ring of tokens."""

    def __init__(
        self,
        tags: SessionTags,
        *,
        max_events: int,
        record_ops: bool,
        track_cache: bool,
        allocs: AllocCounts | None,
    ) -> None:
        self.tags = tags
        self.events: deque[Token] = deque(maxlen=max_events)  # finished tokens
        self.recorded = 0
        self.errors = 0
        self._record_ops = record_ops
        self._record_kv = track_cache and not record_ops
        self._allocs = allocs
        self._threads: set[int] = set()
        self._last_context: object = None
        self._marked_span = 0
        self.sampler: Sampler | None = None  # set by the session: sample at op ends

    @property
    def dropped(self) -> int:
        return self.recorded - len(self.events)

    def tokens(self) -> list[Token]:
        """Finished ops, oldest first (a C-level copy: safe while ops keep ending)."""
        return list(self.events)

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        ctx = _current_context()
        if ctx is not self._last_context:
            self._context_changed(ctx)
        tid = _ident()
        if tid not in self._threads:
            self._threads.add(tid)
            self.tags.enroll_current_thread()
        allocs = self._allocs
        if allocs is None:
            return [name, attrs, tid, ctx, 0, 0, _clock(), 0]
        return [name, attrs, tid, ctx, allocs.count, allocs.nbytes, _clock(), 0]

    def _context_changed(self, ctx: object) -> None:
        self._last_context = ctx
        try:
            span = trace.get_current_span(ctx)  # type: ignore[arg-type]
            span_id = span.get_span_context().span_id
            if span_id and span_id != self._marked_span:
                self._marked_span = span_id
                span.set_attribute(semconv.HYPERION_PROFILE_ID, self.tags.profile_id)
        except Exception:  # noqa: BLE001 - never raise into the runtime
            self.errors += 1

    def on_op_end(self, token: object) -> None:
        t1 = _clock()
        try:
            tok: Token = token  # type: ignore[assignment]  # ours, from on_op_start
            tok[T1] = t1
            allocs = self._allocs
            if allocs is not None:
                tok[ALLOCS] = allocs.count - tok[ALLOCS]
                tok[ABYTES] = allocs.nbytes - tok[ABYTES]
            if self._record_ops or (self._record_kv and tok[NAME].startswith(KV_CACHE_PREFIX)):
                self.events.append(tok)
                self.recorded += 1
            sampler = self.sampler
            if sampler is not None:
                # Frame 2 is the code inside the op's block: on_op_end <- __exit__ <- it.
                sampler.sample_inline(tok[TID], sys._getframe(2), t1)
        except Exception:  # noqa: BLE001 - never raise into the runtime
            self.errors += 1
