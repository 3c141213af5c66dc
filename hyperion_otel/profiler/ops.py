"""The profiler's listener on the op seam (``hyperion_otel._seams.ops``).

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

from opentelemetry import context as otel_context, trace

from hyperion_otel import semconv
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
# started op is the first seven, with the allocation counters at its start; a finished
# op has its own allocation deltas and its end. The span is kept as SpanInfo, not as the
# OTel Context, so a long profile does not keep every span of the session alive. In the
# ring, attrs is the op's dict or, past _INTERN_AFTER records, an interned
# (*names, *values) tuple; ``tokens()`` gives mappings.
Token = tuple[Any, ...]
NAME, ATTRS, TID, SPAN, ALLOCS, ABYTES, T0, T1 = range(8)

KV_CACHE_PREFIX = "kv_cache"
# Records kept as given (attributes as the op's dict) before the recorder interns their
# attributes. The dict holds the op's shape tuple, so CPython tracks it, and a tuple
# holding a dict is never untracked: every record stays in the collector's lists and
# full collections walk them all. Interning costs about 0.2-0.4 µs an op; the collector
# costs less than that for a short session and up to ~1.6 µs an op once a session holds
# some 10^5 records (measured here, 108 runtime ops per step: 2.1 vs 2.3 µs an op over
# 4k ops, 2.9 vs 2.4 over 43k, 4.1 vs 2.5 over 162k).
_INTERN_AFTER = 16_384
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
        # Without memory tracking the counters stay at 0: one code path per op.
        self._allocs = allocs if allocs is not None else AllocCounts()
        self._append = self.events.append
        self._max_events = max_events
        # Attributes of the records past the first _INTERN_AFTER: canonical key tuples.
        self._attrs_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._threads: set[int] = set()
        # (context, its SpanInfo), replaced as one object: threads may interleave ops.
        self._last: tuple[object, SpanInfo] = (None, _NO_SPAN)
        self._marked_span = 0
        self.sampler: Sampler | None = None  # set by the session: sample at op ends

    @property
    def dropped(self) -> int:
        return self.recorded - len(self.events)

    def tokens(self) -> list[Token]:
        """Finished ops, oldest first, each with its attributes as a mapping (a C-level
        copy first: safe while ops keep ending)."""
        out = list(self.events)
        mappings: dict[int, Mapping[str, Any]] = {}  # by id: ``out`` keeps the keys alive
        for i, tok in enumerate(out):
            key = tok[ATTRS]
            if type(key) is tuple:
                attrs = mappings.get(id(key))
                if attrs is None:
                    n = len(key) // 2
                    attrs = mappings[id(key)] = dict(zip(key[:n], key[n:], strict=True))
                out[i] = (tok[NAME], attrs, *tok[TID:])
        return out

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        ctx = _current_context()
        last = self._last
        info = last[1] if last[0] is ctx else self._context_changed(ctx)
        tid = _ident()
        if tid not in self._threads:
            self._enroll(tid)
        allocs = self._allocs
        return (name, attrs, tid, info, allocs.count, allocs.nbytes, _clock())

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

    def on_op_end(self, token: object) -> None:
        t1 = _clock()
        try:
            tok: Token = token  # type: ignore[assignment]  # ours, from on_op_start
            name, attrs, tid, info, count, nbytes, t0 = tok
            if self._record_ops or (self._record_kv and name.startswith(KV_CACHE_PREFIX)):
                if self.recorded >= _INTERN_AFTER:
                    # (*names, *values), one object per distinct set of attributes.
                    key = (*attrs, *attrs.values())
                    keys = self._attrs_keys
                    if len(keys) >= self._max_events:
                        keys.clear()  # bounded; records keep their own keys
                    try:
                        attrs = keys.setdefault(key, key)
                    except TypeError:  # an unhashable value: this record keeps its own
                        attrs = key
                allocs = self._allocs
                self._append(
                    (name, attrs, tid, info, allocs.count - count, allocs.nbytes - nbytes, t0, t1)
                )
                self.recorded += 1
            sampler = self.sampler
            if sampler is not None and t1 >= sampler.inline_after:
                # Frame 2 is the code inside the op's block: on_op_end <- __exit__ <- it.
                sampler.sample_inline(tid, sys._getframe(2), t1)
        except Exception:  # noqa: BLE001 - never raise into the runtime
            self.errors += 1
