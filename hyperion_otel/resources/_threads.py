"""BLAS/OpenMP thread pools, capped through threadpoolctl while limited models work.

The thread count of OpenBLAS, MKL, BLIS and OpenMP is a process-wide setting: while a model
with ``max_threads`` works, BLAS calls made by other threads of the process are capped too.
The cap only ever lowers a pool (a pool smaller than the cap keeps its size) and the counts
from before come back when the last limited unit of work ends. Setting a count is one ctypes
call per library; the libraries are enumerated (a walk of the loaded libraries) once, shared
with the runtime's per-product thread choice in ``hyperion_otel._seams.blas`` (which stays
within these caps), and again on each ``set_resource_limits``, so a BLAS library loaded
later is seen from the next call on.
"""

from __future__ import annotations

from typing import Any

from hyperion_otel._seams.blas import blas_libraries, refresh
from hyperion_otel.resources._scoped import ScopedCap

__all__ = ["acquire", "blas_threads", "refresh", "release"]

Saved = list[tuple[Any, int]]  # (threadpoolctl LibController, its thread count before)


def _libs() -> list[Any]:
    return blas_libraries()


def _capture() -> Saved:
    return [(lib, int(lib.num_threads)) for lib in _libs()]


def _apply(saved: Saved, cap: int) -> None:
    for lib, before in saved:
        lib.set_num_threads(min(cap, before))


def _restore(saved: Saved) -> None:
    for lib, before in saved:
        lib.set_num_threads(before)


_CAP: ScopedCap[Saved] = ScopedCap(_capture, _apply, _restore)


def acquire(n: int) -> None:
    """Cap every BLAS/OpenMP pool at ``n`` threads until the matching ``release``."""
    _CAP.acquire(n)


def release(n: int) -> None:
    _CAP.release(n)


def blas_threads() -> int:
    """Threads of the largest BLAS pool now (0 when no BLAS library is loaded)."""
    counts = [int(lib.num_threads) for lib in _libs() if lib.user_api == "blas"]
    return max(counts, default=0)
