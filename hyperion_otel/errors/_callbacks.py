"""Registry of error callbacks: several allowed, bounded, and never able to break the host.

``set_error_callback``/``remove_error_callback`` are the public face of the one registry
that ``record_error`` runs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from hyperion_otel.errors._types import HyperionError, InvalidInputError, ResourceLimitError

__all__ = [
    "MAX_ERROR_CALLBACKS",
    "CallbackRegistry",
    "ErrorCallback",
    "registry",
    "remove_error_callback",
    "set_error_callback",
]

E = TypeVar("E")

_log = logging.getLogger("hyperion.errors")


@dataclass(eq=False)
class _Entry(Generic[E]):
    fn: Callable[[E], object]
    reported: bool = False  # its first failure was reported; later ones stay quiet


class _Reentry(threading.local):
    active: bool = False


class CallbackRegistry(Generic[E]):
    """Callbacks ``fn(error)`` run in registration order on the recording thread.

    ``run`` returns False when some callback returned exactly ``False`` (suppress). A
    callback that raises is reported once through the stdlib logger ``hyperion.errors``
    (a warning with traceback; with logging unconfigured it reaches stderr) and stays
    registered. A callback that records an error itself does not re-enter the callbacks.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._entries: tuple[_Entry[E], ...] = ()  # replaced, never mutated: run() reads lock-free
        self._reentry = _Reentry()

    def add(self, fn: Callable[[E], object]) -> bool:
        """Register ``fn``; False if it already was; raises OverflowError past ``limit``."""
        with self._lock:
            if any(e.fn == fn for e in self._entries):
                return False
            if len(self._entries) >= self.limit:
                raise OverflowError(self.limit)
            self._entries = (*self._entries, _Entry(fn))
        return True

    def remove(self, fn: Callable[[E], object]) -> bool:
        with self._lock:
            kept = tuple(e for e in self._entries if e.fn != fn)
            removed = len(kept) != len(self._entries)
            self._entries = kept
        return removed

    def __len__(self) -> int:
        return len(self._entries)

    def run(self, error: E) -> bool:
        if self._reentry.active:
            return True
        keep = True
        self._reentry.active = True
        try:
            for entry in self._entries:
                keep = self._call(entry, error) and keep
        finally:
            self._reentry.active = False
        return keep

    @staticmethod
    def _call(entry: _Entry[E], error: E) -> bool:
        try:
            return entry.fn(error) is not False
        except Exception:  # noqa: BLE001 - a user callback must never break the host
            if not entry.reported:
                entry.reported = True
                with contextlib.suppress(Exception):  # a broken logger: nothing left to tell
                    _log.warning(
                        "error callback %r raised while handling %s; it stays registered and "
                        "its further failures are not reported",
                        entry.fn,
                        error,
                        exc_info=True,
                    )
            return True


ErrorCallback = Callable[[HyperionError], object]
MAX_ERROR_CALLBACKS = 64  # a bound that catches a callback registered per request
registry: CallbackRegistry[HyperionError] = CallbackRegistry(MAX_ERROR_CALLBACKS)


def set_error_callback(fn: ErrorCallback) -> ErrorCallback:
    """Call ``fn(error)`` for every recorded error; returns ``fn`` (usable as a decorator).

    Several callbacks may be registered (at most ``MAX_ERROR_CALLBACKS``); registering the
    same one again is a no-op. See the module doc for ``False`` and for raising callbacks.
    """
    if not callable(fn):
        raise InvalidInputError(
            f"error callback must be callable, got {type(fn).__name__}", field="fn"
        )
    try:
        registry.add(fn)
    except OverflowError:
        raise ResourceLimitError(
            f"cannot add error callback {fn!r}: {MAX_ERROR_CALLBACKS} are registered already "
            "(the limit); remove one with remove_error_callback",
            limit=MAX_ERROR_CALLBACKS,
        ) from None
    return fn


def remove_error_callback(fn: ErrorCallback) -> bool:
    """Unregister ``fn``; returns whether it was registered."""
    return registry.remove(fn)
