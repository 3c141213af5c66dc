"""The span-hooks seam: what facilities add to the spans the runtime opens.

A facility registers a hook when it is turned on (the profiler when a session starts, the
memory facility when a pool becomes current) and removes it when turned off. The runtime
calls ``enter(stack, span, role)`` right after it starts a span: each hook returns a context
manager (or ``None`` to skip this span), entered on ``stack`` and so exited, in reverse, before
the runtime ends the span. With no hook registered ``enter`` is one global read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Literal

from opentelemetry.trace import Span

__all__ = ["PHASE", "REQUEST", "Role", "SpanHook", "add", "enter", "remove"]

# "request": the span of one generate/stream call; "phase": a prefill or decode span under it.
Role = Literal["request", "phase"]
REQUEST: Role = "request"
PHASE: Role = "phase"
SpanHook = Callable[[Span, Role], "AbstractContextManager[object] | None"]

_lock = threading.Lock()
_hooks: tuple[SpanHook, ...] = ()


def add(hook: SpanHook) -> Callable[[], None]:
    """Call ``hook`` for every later runtime span (idempotent); returns the undo."""
    global _hooks
    with _lock:
        if hook not in _hooks:
            _hooks = (*_hooks, hook)
    return lambda: remove(hook)


def remove(hook: SpanHook) -> None:
    """Stop calling ``hook`` (no error if it was not added)."""
    global _hooks
    with _lock:
        _hooks = tuple(h for h in _hooks if h != hook)


def enter(stack: ExitStack, span: Span, role: Role) -> None:
    """Enter every hook's context for ``span`` on ``stack``."""
    for hook in _hooks:
        cm = hook(span, role)
        if cm is not None:
            stack.enter_context(cm)
