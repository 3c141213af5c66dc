"""Registry of error callbacks: several allowed, bounded, and never able to break the host.

Generic over the error type so it does not import ``errors`` (which imports it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CallbackRegistry"]

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
