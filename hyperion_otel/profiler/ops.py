"""The profiler's listener on the op seam (``hyperion_otel._seams.ops``).

Per op it stores seven items in a flat ring: the op's site (name and attributes, made
once per call site), the span it ran in, two clock readings, the thread and allocation
counters. The recorder supplies the seam's context manager itself (``block``), so an op
costs one small object, three Python frames and those seven slots. Everything else
(nesting, self time, phase, span ids, KV-cache counters, which span a sample belongs to)
is derived when a profile is built (``derive.py``): in place, next to BLAS calls that
flush the caches, each touched object costs a cache miss, so the hot path does as little
as possible.
The context is read again only when it changed since the previous op, to mark the span
with the profile id.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context, trace

from hyperion_otel import semconv
from hyperion_otel._seams.ops import OpSite, site_attrs
from hyperion_otel.profiler.context import SessionTags
from hyperion_otel.profiler.sampler import Sampler

__all__ = ["KV_CACHE_PREFIX", "AllocCounts", "CounterPoint", "OpRecorder", "RawOp", "Token"]

# (name, thread ident, start_ns, end_ns, self_ns, depth, attrs, allocs, alloc_bytes,
#  trace_id, span_id, phase); times relative to the session start.
RawOp = tuple[str, int, int, int, int, int, Mapping[str, Any], int, int, int, int, str]
# (t_ns relative to start, counter name, series values)
CounterPoint = tuple[int, str, dict[str, float]]
# (trace_id, span_id, phase implied by the span's name) of the span an op ran in.
SpanInfo = tuple[int, int, "str | None"]
# (name, attrs, thread ident, SpanInfo, allocations, alloc bytes, start_ns, end_ns): a
# finished op as ``tokens()`` gives it, attributes as a mapping. The span is kept as
# SpanInfo, not as the OTel Context, so a long profile does not keep every span of the
# session alive.
Token = tuple[Any, ...]
NAME, ATTRS, TID, SPAN, ALLOCS, ABYTES, T0, T1 = range(8)
# A record in the ring: site, SpanInfo, start_ns, end_ns, thread ident, allocations,
# alloc bytes, stored flat (seven items a record): no object per record, so nothing new
# for the garbage collector to track (a tuple per record cost ~15% of an op's
# instructions in collections, measured with cachegrind).
_FIELDS = 7

KV_CACHE_PREFIX = "kv_cache"
_SPAN_PHASES = {
    semconv.SPAN_PREFILL: "prefill",
    semconv.SPAN_DECODE: "decode",
    semconv.SPAN_DECODE_STEP: "decode",
}
_NO_SPAN: SpanInfo = (0, 0, None)
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


def span_info(span: trace.Span) -> SpanInfo:
    """Trace id, span id and the phase the name of ``span`` implies."""
    sc = span.get_span_context()
    name = getattr(span, "name", None)  # SDK spans only
    phase = _SPAN_PHASES.get(name) if isinstance(name, str) else None
    return (sc.trace_id, sc.span_id, phase) if sc.is_valid else (0, 0, phase)


class OpRecorder:
    """``BlockListener`` that records the ops of a session into a bounded ring."""

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
        # deque.extend is one C call: a record goes in whole, and a full ring drops whole
        # records from the left (its length stays a multiple of _FIELDS).
        self.events: deque[Any] = deque(maxlen=max_events * _FIELDS)
        self.recorded = 0
        self.errors = 0
        self._record_ops = record_ops
        self._record_kv = track_cache and not record_ops
        # Without memory tracking the counters stay at 0: one code path per op.
        self._allocs = allocs if allocs is not None else AllocCounts()
        self._threads: set[int] = set()
        # (context, its SpanInfo), replaced as one object: threads may interleave ops.
        self._last: tuple[object, SpanInfo] = (None, _NO_SPAN)
        self._marked_span = 0
        self.sampler: Sampler | None = None  # set by the session: sample at op ends

    @property
    def kept(self) -> int:
        """Records in the ring."""
        return len(self.events) // _FIELDS

    @property
    def dropped(self) -> int:
        return self.recorded - self.kept

    def tokens(self) -> list[Token]:
        """Finished ops, oldest first, each with its attributes as a mapping (a C-level
        copy first: safe while ops keep ending)."""
        flat = list(self.events)
        mappings: dict[int, Mapping[str, Any]] = {}  # by id: ``flat`` keeps sites alive
        out: list[Token] = []
        fields = [iter(flat)] * _FIELDS
        for s, info, t0, t1, tid, count, nbytes in zip(*fields, strict=True):
            attrs = mappings.get(id(s))
            if attrs is None:
                attrs = mappings[id(s)] = site_attrs(s)
            out.append((s[0], attrs, tid, info, count, nbytes, t0, t1))
        return out

    def block(self, s: OpSite) -> _Block:
        """The context manager that records one run of op site ``s``, started: the op's
        clock starts here, and ``__enter__`` is a C no-op (one Python frame less an op)."""
        b = _new_block(_Block)
        b.site = s
        b.rec = self
        try:
            ctx = _current_context()
            last = self._last
            b.info = last[1] if last[0] is ctx else self._context_changed(ctx)
            tid = b.tid = _ident()
            if tid not in self._threads:
                self._enroll(tid)
            allocs = self._allocs
            b.count = allocs.count
            b.nbytes = allocs.nbytes
        except Exception:  # noqa: BLE001 - never raise into the runtime
            self.errors += 1
        b.t0 = _clock()
        return b

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        b = self.block((name, tuple(attrs), tuple(attrs.values())))
        b.__enter__()
        return b

    def on_op_end(self, token: object) -> None:
        if type(token) is _Block:
            token.__exit__(None, None, None)

    def _enroll(self, tid: int) -> None:
        self._threads.add(tid)
        self.tags.enroll_current_thread()
        if self.sampler is not None:
            self.sampler.note_thread_clock()

    def _context_changed(self, ctx: object) -> SpanInfo:
        info = _NO_SPAN
        try:
            span = trace.get_current_span(ctx)  # type: ignore[arg-type]
            info = span_info(span)
            span_id = info[1]
            if span_id and span_id != self._marked_span:
                self._marked_span = span_id
                span.set_attribute(semconv.HYPERION_PROFILE_ID, self.tags.profile_id)
        except Exception:  # noqa: BLE001 - never raise into the runtime
            self.errors += 1
        self._last = (ctx, info)
        return info


class _Block:
    """One run of an op, as the recorder observes it (made by ``OpRecorder.block``)."""

    __slots__ = ("count", "info", "nbytes", "rec", "site", "t0", "tid")

    rec: OpRecorder
    site: OpSite
    info: SpanInfo
    tid: int
    count: int
    nbytes: int
    t0: int

    # Started by ``OpRecorder.block``: entering is a C call that does nothing.
    __enter__ = staticmethod(tuple)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        t1 = _clock()
        rec = self.rec
        try:
            s = self.site
            if rec._record_ops or (rec._record_kv and s[0].startswith(KV_CACHE_PREFIX)):
                allocs = rec._allocs
                rec.events.extend(
                    (
                        s,
                        self.info,
                        self.t0,
                        t1,
                        self.tid,
                        allocs.count - self.count,
                        allocs.nbytes - self.nbytes,
                    )
                )
                rec.recorded += 1
            sampler = rec.sampler
            if sampler is not None and t1 >= sampler.inline_after:
                # Frame 1 is the code inside the op's block (or whoever called __exit__).
                sampler.sample_inline(self.tid, sys._getframe(1), t1)
        except Exception:  # noqa: BLE001 - never raise into the runtime
            rec.errors += 1


_new_block = object.__new__  # a C call: no __init__ frame per op
