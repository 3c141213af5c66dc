"""The profiler's listener on the op seam (``hyperion_otel._ops``).

It times every op the runtime marks, keeps per-thread op stacks (for nesting, self time,
the phase an op belongs to and the span it served), publishes the thread's span for the
sampler, counts allocations made inside each op and KV-cache activity. Work per op is a
few dict and list operations (about 1 µs); the span is read again only at a top-level op
whose OTel context differs from the previous one on that thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.profiler.context import NO_TAG, SessionTags, Tag

__all__ = ["AllocCounts", "CounterPoint", "OpRecorder", "RawOp", "phase_of_name"]

# (name, thread ident, start_ns, end_ns, self_ns, depth, attrs, allocs, alloc_bytes,
#  trace_id, span_id, phase); times relative to the session start.
RawOp = tuple[str, int, int, int, int, int, Mapping[str, Any], int, int, int, int, str]
# (t_ns relative to start, counter name, series values)
CounterPoint = tuple[int, str, dict[str, float]]

KV_CACHE_PREFIX = "kv_cache"
_clock = time.perf_counter_ns
_ident = threading.get_ident
_current_context = otel_context.get_current
_SPAN_PHASES = {
    semconv.SPAN_PREFILL: "prefill",
    semconv.SPAN_DECODE: "decode",
    semconv.SPAN_DECODE_STEP: "decode",
}
_KV_SERIES_ATTRS = ("blocks", "blocks_used", "blocks_free", "blocks_total")

# Token slots: a list per op, created at start, completed at end and then kept as the
# event itself (one allocation per op; converted to RawOp tuples only when a profile is
# built). _ALLOCS/_ABYTES hold the counters at start, then the op's own deltas.
_NAME, _ATTRS, _T0, _DEPTH, _PHASE, _ALLOCS, _ABYTES, _CHILD, _TAG, _PUBLISHED, _TID, _T1 = range(12)


class AllocCounts:
    """Running totals bumped by the counting allocator (ints: updates are GIL-atomic enough)."""

    __slots__ = ("count", "freed_bytes", "nbytes")

    def __init__(self) -> None:
        self.count = 0
        self.nbytes = 0
        self.freed_bytes = 0


def phase_of_name(name: str) -> str | None:
    """Phase an op implies by its name alone (sampling, tokenisation, prefill, decode)."""
    if name == "sampling" or name.startswith("sample"):
        return "sampling"
    if name.startswith(("tokeniz", "detokeniz", "tokenis", "detokenis")):
        return "tokenization"
    if name == "prefill":
        return "prefill"
    if name.startswith("decode"):
        return "decode"
    return None


def _phase_of_span(span: trace.Span) -> str | None:
    # SDK spans expose ``name``; the API does not, so without an SDK this is None.
    name = getattr(span, "name", None)
    return _SPAN_PHASES.get(name) if isinstance(name, str) else None


def _multi_token(name: str, attrs: Mapping[str, Any]) -> bool:
    """A matmul over more than one row (``shape=(rows, k, n)``) is prefill work."""
    if name != "matmul":
        return False
    shape = attrs.get("shape")
    return isinstance(shape, tuple) and bool(shape) and isinstance(shape[0], int) and shape[0] > 1


class _Thread:
    """Per-thread op state; only its own thread touches it."""

    __slots__ = ("context", "marked_span", "seq_phase", "span_phase", "stack", "tag", "trace_id")

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []
        self.seq_phase = "prefill"
        self.trace_id = 0
        self.marked_span = 0
        self.context: object = None  # the OTel Context last seen at a top-level op
        self.tag: Tag = NO_TAG
        self.span_phase: str | None = None


class OpRecorder:
    """``OpListener`` that records ops of a session into bounded buffers."""

    def __init__(
        self,
        tags: SessionTags,
        *,
        t0_ns: int,
        max_events: int,
        record_ops: bool,
        track_cache: bool,
        allocs: AllocCounts | None,
        counters: deque[CounterPoint],
    ) -> None:
        self.tags = tags
        self.events: deque[list[Any]] = deque(maxlen=max_events)  # finished tokens
        self.recorded = 0
        self.errors = 0
        self._t0 = t0_ns
        self._record_ops = record_ops
        self._track_cache = track_cache
        self._allocs = allocs
        self._counters = counters
        self._threads: dict[int, _Thread] = {}
        self._name_phase: dict[str, str | None] = {}
        self._kv_counts: dict[str, float] = {}

    @property
    def dropped(self) -> int:
        return self.recorded - len(self.events)

    def op_events(self, thread: int | None = None) -> list[RawOp]:
        """The recorded ops (oldest first), optionally of one thread only."""
        base = self._t0
        out: list[RawOp] = []
        for k in list(self.events):  # C-level copy: safe while ops keep ending
            if thread is not None and k[_TID] != thread:
                continue
            t0, t1 = k[_T0], k[_T1]
            out.append((k[_NAME], k[_TID], t0 - base, t1 - base, t1 - t0 - k[_CHILD], k[_DEPTH],
                        k[_ATTRS], k[_ALLOCS], k[_ABYTES], k[_TAG][0], k[_TAG][1], k[_PHASE]))
        return out

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        t = _clock()
        tid = _ident()
        th = self._threads.get(tid)
        if th is None:
            th = self._threads[tid] = _Thread()
            self.tags.enroll_current_thread()
        stack = th.stack
        phase = attrs.get("phase")
        if not isinstance(phase, str):
            try:
                phase = self._name_phase[name]
            except KeyError:
                phase = self._name_phase[name] = phase_of_name(name)
        allocs = self._allocs
        if stack:
            parent = stack[-1]
            token = [name, attrs, t, len(stack), phase or parent[_PHASE], 0, 0, 0,
                     parent[_TAG], False, tid, 0]
        else:
            token = [name, attrs, t, 0, phase, 0, 0, 0, NO_TAG, False, tid, 0]
            try:
                self._top_level(token, tid, th, phase)
            except Exception:  # noqa: BLE001 - never raise into the runtime
                self.errors += 1
                token[_PHASE] = phase or "other"
        if allocs is not None:
            token[_ALLOCS], token[_ABYTES] = allocs.count, allocs.nbytes
        stack.append(token)
        return token

    def _top_level(self, token: list[Any], tid: int, th: _Thread, phase: str | None) -> None:
        ctx = _current_context()
        if ctx is not th.context:  # the OTel context changed: read the span again
            th.context = ctx
            span = trace.get_current_span(ctx)
            sc = span.get_span_context()
            th.span_phase = _phase_of_span(span)
            if sc.is_valid:
                th.tag = (sc.trace_id, sc.span_id)
                if sc.trace_id != th.trace_id:
                    th.trace_id = sc.trace_id
                    th.seq_phase = "prefill"  # a new request starts with its prefill
                if sc.span_id != th.marked_span:
                    th.marked_span = sc.span_id
                    span.set_attribute(semconv.HYPERION_PROFILE_ID, self.tags.profile_id)
            else:
                th.tag = NO_TAG
        if phase is None:
            phase = th.span_phase
            if phase is None:
                if _multi_token(token[_NAME], token[_ATTRS]):
                    th.seq_phase = "prefill"
                phase = th.seq_phase
        elif phase == "tokenization":
            th.seq_phase = "prefill"
        token[_PHASE] = phase
        published = self.tags.tags.get(tid)
        if published is not None:
            token[_TAG] = published
        elif th.tag is not NO_TAG:
            token[_TAG] = th.tag
            token[_PUBLISHED] = True
            self.tags.tags[tid] = th.tag

    def on_op_end(self, token: object) -> None:
        t1 = _clock()
        if not isinstance(token, list):
            return
        tid = _ident()
        th = self._threads.get(tid)
        if th is None or not th.stack or th.stack[-1] is not token:
            return  # an op ended on another thread than it started: ignore it
        stack = th.stack
        stack.pop()
        if stack:
            stack[-1][_CHILD] += t1 - token[_T0]
        else:
            if token[_PUBLISHED]:
                self.tags.tags.pop(tid, None)
            if token[_PHASE] == "sampling":
                th.seq_phase = "decode"  # after a token is sampled, decode steps follow
        allocs = self._allocs
        if allocs is not None:
            token[_ALLOCS] = allocs.count - token[_ALLOCS]
            token[_ABYTES] = allocs.nbytes - token[_ABYTES]
        if self._track_cache and token[_NAME].startswith(KV_CACHE_PREFIX):
            self._count_cache(token[_NAME], token[_ATTRS], t1 - self._t0)
        if self._record_ops:
            token[_T1] = t1
            self.events.append(token)
            self.recorded += 1

    def _count_cache(self, name: str, attrs: Mapping[str, Any], t: int) -> None:
        counts = self._kv_counts
        counts[name] = counts.get(name, 0.0) + 1.0
        self._counters.append((t, "kv_cache.ops", dict(counts)))
        blocks = {
            k: float(v)
            for k in _KV_SERIES_ATTRS
            if isinstance(v := attrs.get(k), (int, float)) and not isinstance(v, bool)
        }
        if blocks:
            self._counters.append((t, "kv_cache.blocks", blocks))
