"""Resource limits around a transformers ``generate`` call, through the resources facility.

The governor the resources facility installed for the model in the governor seam
(``set_resource_limits(model, ...)``, else the process defaults ``HYPERION_MAX_*``) is
entered around the whole call, which is the unit of work: BLAS/OpenMP pools capped (threadpoolctl), RSS checked before and after, with the RSS
peak the call reached, and the CPU throttle's sleep after the call. ``max_threads`` also
caps torch's intra-op pool (``torch.set_num_threads``), which threadpoolctl does not own;
the count from before comes back when the last limited call ends.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from hyperion_otel._seams import governor
from hyperion_otel.resources._governor import Governor
from hyperion_otel.resources._scoped import ScopedCap

__all__ = ["limits_for"]

_NO_LIMITS: AbstractContextManager[object] = nullcontext()
_torch_cap: ScopedCap[int] | None = None
_lock = threading.Lock()


def _torch_threads() -> ScopedCap[int]:
    """One cap for the process: torch's intra-op pool is a process-wide setting."""
    global _torch_cap
    cap = _torch_cap
    if cap is None:
        import torch

        def apply(before: int, n: int) -> None:
            torch.set_num_threads(min(before, n))

        with _lock:
            cap = _torch_cap
            if cap is None:
                cap = _torch_cap = ScopedCap(torch.get_num_threads, apply, torch.set_num_threads)
    return cap


class _TorchThreads:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        _torch_threads().acquire(self.n)

    def __exit__(self, *exc: object) -> None:
        _torch_threads().release(self.n)


def limits_for(model: Any) -> AbstractContextManager[object]:
    """Context for one call of ``model``: its governor plus the torch thread cap, or a no-op."""
    gov = governor.governor_of(model)
    if gov is None:
        return _NO_LIMITS
    n = gov.limits.max_threads if isinstance(gov, Governor) else None
    if n is None:
        return gov
    return _Both(gov, n)


class _Both:
    """Torch threads capped first and released last, around the governor."""

    __slots__ = ("gov", "threads")

    def __init__(self, gov: AbstractContextManager[object], n: int) -> None:
        self.gov = gov
        self.threads = _TorchThreads(n)

    def __enter__(self) -> None:
        self.threads.__enter__()
        try:
            self.gov.__enter__()
        except BaseException:
            self.threads.__exit__(None, None, None)
            raise

    def __exit__(self, t: Any, e: Any, tb: Any) -> None:
        try:
            self.gov.__exit__(t, e, tb)
        finally:
            self.threads.__exit__(None, None, None)
