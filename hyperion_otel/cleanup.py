"""``CleanupHandler``: release resources in reverse order, whatever fails on the way.

The guide's ``hyperionInitCleanupHandler`` / ``hyperionAddCleanup`` in Python::

    with CleanupHandler() as cleanup:
        pool = cleanup.add_cleanup(init_memory(config), lambda p: p.release())
        f = cleanup.add_cleanup(open(path, "rb"))          # default: f.close()
        ...
    # here f was closed, then the pool released (LIFO)

Cleanups run last-in first-out on ``close()``, on ``with`` exit and, unless
``at_exit=False``, at interpreter exit. The atexit hook is registered when the first
cleanup is added and unregistered by ``close()``, so a closed handler leaves no hook
behind (and is no longer kept alive by one). A cleanup that raises is recorded through
``record_error`` (exception log record and ``hyperion.errors`` count, with the resource
and function as attributes; the span around it is not marked failed) and the remaining
cleanups still run. ``KeyboardInterrupt``/``SystemExit`` from a cleanup are re-raised after
the others ran. ``close()`` is idempotent and the handler may be reused after it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

from hyperion_otel import semconv
from hyperion_otel.errors import (
    HyperionError,
    InvalidInputError,
    ResourceLimitError,
    public,
    record_error,
)

__all__ = ["CleanupHandler"]

R = TypeVar("R")
_MAX_REPR = 120  # characters of a resource's repr kept as an attribute


@public
class CleanupHandler:
    """Cleanups registered with ``add_cleanup`` run LIFO on ``close()``/``with`` exit/exit.

    ``max_entries`` bounds the pending cleanups (``ResourceLimitError`` past it), which
    turns a leak (a cleanup added per request, never closed) into an error. Thread-safe.
    """

    def __init__(self, *, at_exit: bool = True, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise InvalidInputError(
                f"invalid max_entries: expected an integer >= 1, got {max_entries!r}",
                field="max_entries",
            )
        self.at_exit = at_exit
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._closing = threading.RLock()  # one close at a time; a cleanup may call close()
        self._entries: list[tuple[Any, Callable[[Any], object]]] = []
        self._hooked = False

    def add_cleanup(self, resource: R, func: Callable[[R], object] | None = None) -> R:
        """Register ``func(resource)`` (default ``resource.close()``); returns ``resource``."""
        if func is None:
            close = getattr(resource, "close", None)
            if not callable(close):
                raise InvalidInputError(
                    f"invalid func: expected a cleanup function for {_describe(resource)} "
                    "(it has no close() method), got None",
                    field="func",
                )
            func = _call_close
        elif not callable(func):
            raise InvalidInputError(
                f"invalid func: expected a callable, got {type(func).__name__}", field="func"
            )
        with self._lock:
            if len(self._entries) >= self.max_entries:
                raise ResourceLimitError(
                    f"cannot add a cleanup for {_describe(resource)}: {self.max_entries} "
                    "are pending already (max_entries); close the handler or raise the limit",
                    limit=self.max_entries,
                )
            self._entries.append((resource, func))
            if self.at_exit and not self._hooked:
                atexit.register(self._run_at_exit)
                self._hooked = True
        return resource

    def remove_cleanup(self, resource: object) -> bool:
        """Forget the latest cleanup of ``resource`` without running it; True if there was one."""
        with self._lock:
            for i in range(len(self._entries) - 1, -1, -1):
                if self._entries[i][0] is resource:
                    del self._entries[i]
                    return True
        return False

    def __len__(self) -> int:
        """Number of cleanups waiting to run."""
        return len(self._entries)

    def close(self) -> list[HyperionError]:
        """Run the pending cleanups LIFO; returns the failures (each already recorded).

        Cleanups added while closing run too. Calling ``close()`` again runs nothing
        new. The atexit hook is removed.
        """
        failures: list[HyperionError] = []
        interrupt: BaseException | None = None
        with self._closing:
            while True:
                with self._lock:
                    if not self._entries:
                        self._unhook()
                        break
                    resource, func = self._entries.pop()
                try:
                    func(resource)
                except Exception as exc:  # noqa: BLE001 - recorded; the other cleanups still run
                    failures.append(_record_failure(exc, resource, func))
                except BaseException as exc:  # noqa: BLE001 - Ctrl-C/exit: finish, then re-raise
                    interrupt = interrupt or exc
        if interrupt is not None:
            raise interrupt
        return failures

    def _unhook(self) -> None:
        if self._hooked:
            atexit.unregister(self._run_at_exit)
            self._hooked = False

    def _run_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> CleanupHandler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"CleanupHandler(pending={len(self._entries)}, at_exit={self.at_exit})"


def _call_close(resource: Any) -> None:
    resource.close()


def _describe(resource: object) -> str:
    try:
        text = repr(resource)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real problem
        text = f"<{type(resource).__name__}>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _record_failure(
    exc: Exception, resource: object, func: Callable[[Any], object]
) -> HyperionError:
    name = "close" if func is _call_close else getattr(func, "__qualname__", repr(func))
    return record_error(
        exc,
        mark_span=False,
        attributes={
            semconv.HYPERION_CLEANUP_RESOURCE: _describe(resource),
            semconv.HYPERION_CLEANUP_FUNCTION: name,
        },
    )
