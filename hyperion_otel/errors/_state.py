"""The calling thread's last recorded error (the guide's ``getLastError()``)."""

from __future__ import annotations

import threading

from hyperion_otel.errors._types import HyperionError

__all__ = ["clear_last_error", "get_last_error", "set_last_error"]


class _ThreadState(threading.local):
    last: HyperionError | None = None


_state = _ThreadState()


def get_last_error() -> HyperionError | None:
    """The last error recorded on the calling thread (kept until the next one or a clear)."""
    return _state.last


def clear_last_error() -> None:
    """Forget the calling thread's last error."""
    _state.last = None


def set_last_error(err: HyperionError) -> None:
    _state.last = err
