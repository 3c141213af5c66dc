"""A process-wide setting lowered while scopes hold caps on it.

BLAS thread counts and the memory pool's budget belong to the process, not to a model:
while several limited models work at once the smallest cap is in force, and the value
from before the first scope comes back when the last scope ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ScopedCap"]

S = TypeVar("S")


class ScopedCap(Generic[S]):
    """``capture()`` saves the setting, ``apply(saved, cap)`` lowers it, ``restore(saved)`` undoes.

    ``apply`` runs only when the smallest active cap changes, so a scope that repeats the
    cap in force costs a lock and a counter update.
    """

    def __init__(
        self,
        capture: Callable[[], S],
        apply: Callable[[S, int], None],
        restore: Callable[[S], None],
    ) -> None:
        self._capture, self._apply, self._restore = capture, apply, restore
        self._lock = threading.Lock()
        self._caps: Counter[int] = Counter()
        self._saved: S | None = None
        self._applied: int | None = None

    @property
    def active(self) -> bool:
        return bool(self._caps)

    def acquire(self, cap: int) -> None:
        with self._lock:
            if not self._caps:
                self._saved = self._capture()
                self._applied = None
            self._caps[cap] += 1
            self._update()

    def release(self, cap: int) -> None:
        with self._lock:
            if self._caps[cap] <= 0:
                return
            self._caps[cap] -= 1
            if self._caps[cap] == 0:
                del self._caps[cap]
            if self._caps:
                self._update()
                return
            saved, self._saved, self._applied = self._saved, None, None
            if saved is not None:
                self._restore(saved)

    def _update(self) -> None:
        cap = min(self._caps)
        if cap != self._applied and self._saved is not None:
            self._applied = cap
            self._apply(self._saved, cap)
