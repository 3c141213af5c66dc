"""Which span each profiled thread is working for, readable from the sampler thread.

The OTel context is a contextvar: another thread cannot read it. So each thread publishes
its request span here itself (``profile_span()``, or the op listener at a top-level op),
and the sampler reads the dict. Writes are single dict stores (atomic under the GIL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel._seams import span_hooks

__all__ = ["SessionTags", "current_profile_id", "profile_span"]

# (trace_id, span_id); (0, 0) means no span.
Tag = tuple[int, int]
NO_TAG: Tag = (0, 0)


class SessionTags:
    """Per-thread span tags and the set of threads a session samples."""

    __slots__ = ("profile_id", "tags", "targets", "thread_names")

    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        self.tags: dict[int, Tag] = {}
        self.targets: set[int] = set()
        self.thread_names: dict[int, str] = {}

    def enroll_current_thread(self) -> int:
        """Make the calling thread a sampling target; returns its ident."""
        tid = threading.get_ident()
        if tid not in self.targets:
            self.thread_names[tid] = threading.current_thread().name
            self.targets.add(tid)
        return tid


_active: SessionTags | None = None


def activate(tags: SessionTags | None) -> None:
    """Install (or with ``None`` clear) the running session's tag registry, and with it the
    span hook that tags the runtime's request spans."""
    global _active
    _active = tags
    if tags is not None:
        span_hooks.add(_request_span_hook)
    else:
        span_hooks.remove(_request_span_hook)


def active() -> SessionTags | None:
    return _active


def current_profile_id() -> str | None:
    """Id of the running profiling session, or ``None``.

    Code that starts its own request spans can set it as ``hyperion.profile.id`` on them
    (``profile_span()`` does that and the tagging in one call).
    """
    tags = _active
    return tags.profile_id if tags is not None else None


@contextmanager
def _tagged(tags: SessionTags, span: trace.Span) -> Iterator[None]:
    ctx = span.get_span_context()
    tid = tags.enroll_current_thread()
    previous = tags.tags.get(tid)
    if ctx.is_valid:
        with suppress(Exception):  # a misbehaving span must not break the request
            span.set_attribute(semconv.HYPERION_PROFILE_ID, tags.profile_id)
        tags.tags[tid] = (ctx.trace_id, ctx.span_id)
    try:
        yield
    finally:
        if previous is None:
            tags.tags.pop(tid, None)
        else:
            tags.tags[tid] = previous


_NULL: AbstractContextManager[None] = nullcontext()


def profile_span(span: trace.Span | None = None) -> AbstractContextManager[None]:
    """Attribute the samples of this thread to ``span`` (default: the current span)
    until the block exits.

    A running session applies it to the runtime's generate spans through the span-hooks
    seam; other code wraps its own request spans in it. While a session runs, the span
    gets ``hyperion.profile.id``, the thread is sampled, and every sample taken in the
    block carries that span's trace and span ids (child spans such as decode steps do not
    replace it: a profile is cut by request). With no session running it returns a shared
    no-op context manager.
    """
    tags = _active
    if tags is None:
        return _NULL
    return _tagged(tags, span if span is not None else trace.get_current_span())


def _request_span_hook(
    span: trace.Span, role: span_hooks.Role
) -> AbstractContextManager[None] | None:
    # A profile is cut by request: prefill and decode spans keep the request's tag.
    return profile_span(span) if role == span_hooks.REQUEST else None
