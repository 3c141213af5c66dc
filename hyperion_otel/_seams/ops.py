"""The op seam: the runtime marks each numerical op, listeners (profiler, memory tracker,
library API users) observe them.

With no listener, ``op(...)`` returns a shared no-op context manager: one global read and
one call, so the runtime can mark every op unconditionally (the cost per call is a row of
``python -m benchmarks --only library_api``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

__all__ = ["OpListener", "add_listener", "has_listeners", "op", "remove_listener"]


class OpListener(Protocol):
    """Observer of ops. Both methods run on the op's thread and must be fast and never raise."""

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        """Called at op entry; the returned token is passed back to ``on_op_end``."""
        ...

    def on_op_end(self, token: object) -> None:
        """Called at op exit (also when the op raised)."""
        ...


_lock = threading.Lock()
_listeners: tuple[OpListener, ...] = ()


def add_listener(listener: OpListener) -> None:
    """Start delivering ops to ``listener`` (idempotent)."""
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def remove_listener(listener: OpListener) -> None:
    """Stop delivering ops to ``listener`` (no error if it was not added)."""
    global _listeners
    with _lock:
        _listeners = tuple(x for x in _listeners if x is not listener)


def has_listeners() -> bool:
    """True when some listener is attached (lets callers skip computing op attributes)."""
    return bool(_listeners)


class _NullOp:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NULL_OP = _NullOp()


class _Op:
    __slots__ = ("attrs", "listeners", "name", "tokens")

    def __init__(self, name: str, attrs: dict[str, Any], listeners: tuple[OpListener, ...]):
        self.name = name
        self.attrs = attrs
        self.listeners = listeners
        self.tokens: list[object] = []

    def __enter__(self) -> None:
        self.tokens = [lst.on_op_start(self.name, self.attrs) for lst in self.listeners]

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for lst, tok in zip(reversed(self.listeners), reversed(self.tokens), strict=True):
            lst.on_op_end(tok)


class _Op1:
    """``_Op`` for the usual single listener (the profiler): no token list, no zip; about
    half the seam's cost per op, which the runtime pays ~110 times per decoded token."""

    __slots__ = ("attrs", "listener", "name", "token")

    def __init__(self, name: str, attrs: dict[str, Any], listener: OpListener):
        self.name = name
        self.attrs = attrs
        self.listener = listener
        self.token: object = None

    def __enter__(self) -> None:
        self.token = self.listener.on_op_start(self.name, self.attrs)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.listener.on_op_end(self.token)


def op(name: str, **attrs: Any) -> _NullOp | _Op1 | _Op:
    """Mark a block as op ``name``; ``attrs`` by convention: layer, shapes, flops, nbytes."""
    listeners = _listeners
    if not listeners:
        return _NULL_OP
    if len(listeners) == 1:
        return _Op1(name, attrs, listeners[0])
    return _Op(name, attrs, listeners)
