"""Machine peaks for the roofline: GEMM FLOP/s and memory read bandwidth, measured once.

Measured with numpy as the runtime uses it (same BLAS, same threads), best of a few
short repetitions so a noisy neighbour lowers the figure less. Bandwidth is measured as
a matrix-vector product over a matrix far larger than the caches: exactly the access
pattern of batch-1 decode. About 0.2 s; the result is cached for the process.

On a badly overloaded machine (BLAS threads descheduled mid-GEMM) the GEMM figure can
collapse far more than the bandwidth figure. No real CPU has a roofline ridge below
``MIN_RIDGE`` FLOP/B (SIMD FMA throughput per byte of DRAM bandwidth is well above it on
any core of the last decade), so a measurement below ``PLAUSIBLE_RIDGE`` is retried, and
if it stays implausible the FLOP/s peak is raised to ``MIN_RIDGE`` x bandwidth and the
result marked ``disturbed`` (and not cached, so the next call measures again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MachinePeaks", "calibrate", "plausible_peaks"]

GEMM_N = 384
GEMV_BYTES = 64 * 1024 * 1024
BUDGET_S = 0.1  # per measurement
PLAUSIBLE_RIDGE = 1.0
MIN_RIDGE = 2.0
ATTEMPTS = 3


@dataclass(frozen=True)
class MachinePeaks:
    flops_per_s: float
    bytes_per_s: float
    seconds: float  # calibration time
    raised_by_ops: bool = False  # an op ran faster than calibration measured
    disturbed: bool = False  # calibration looked implausible (machine overloaded)

    def at_least(self, flops_per_s: float, bytes_per_s: float) -> MachinePeaks:
        """Peaks no lower than rates ops were seen to reach.

        Calibration is a best-of-a-few on a possibly busy machine; a rate the machine
        demonstrably reached is a better lower bound of its peak.
        """
        if flops_per_s <= self.flops_per_s and bytes_per_s <= self.bytes_per_s:
            return self
        return MachinePeaks(
            max(self.flops_per_s, flops_per_s),
            max(self.bytes_per_s, bytes_per_s),
            self.seconds,
            True,
            self.disturbed,
        )

    @property
    def ridge_intensity(self) -> float:
        """FLOPs per byte above which an op can be compute-bound (the roofline's ridge)."""
        return self.flops_per_s / self.bytes_per_s


_lock = threading.Lock()
_cached: MachinePeaks | None = None


def _best_rate(work: float, fn: Callable[[], object], budget_s: float) -> float:
    fn()  # warm-up: page faults, BLAS thread start
    best = float("inf")
    deadline = time.perf_counter() + budget_s
    runs = 0
    while runs < 3 or (time.perf_counter() < deadline and runs < 200):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return work / best


def _measure(budget_s: float) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    out = np.empty_like(a)
    flops = _best_rate(2.0 * GEMM_N**3, lambda: np.matmul(a, b, out=out), budget_s)
    cols = 2048
    rows = GEMV_BYTES // (4 * cols)
    w = np.ones((rows, cols), dtype=np.float32)  # ones: touched, no RNG cost
    x = np.ones(rows, dtype=np.float32)
    y = np.empty(cols, dtype=np.float32)
    bandwidth = _best_rate(float(w.nbytes), lambda: np.matmul(x, w, out=y), budget_s)
    return flops, bandwidth


def calibrate(force: bool = False, budget_s: float = BUDGET_S) -> MachinePeaks:
    """Measure (or return the cached) peak GEMM FLOP/s and memory read bandwidth."""
    global _cached
    with _lock:
        if _cached is not None and not force:
            return _cached
        t0 = time.perf_counter()
        flops = bandwidth = 0.0
        for _ in range(ATTEMPTS):
            f, b = _measure(budget_s)
            flops, bandwidth = max(flops, f), max(bandwidth, b)
            if flops >= PLAUSIBLE_RIDGE * bandwidth:
                break
        peaks = plausible_peaks(flops, bandwidth, time.perf_counter() - t0)
        if not peaks.disturbed:
            _cached = peaks
        return peaks


def plausible_peaks(flops_per_s: float, bytes_per_s: float, seconds: float = 0.0) -> MachinePeaks:
    """Peaks from measured rates, FLOP/s raised to ``MIN_RIDGE`` x bandwidth (and marked
    ``disturbed``) when the ridge came out below ``PLAUSIBLE_RIDGE``."""
    if flops_per_s >= PLAUSIBLE_RIDGE * bytes_per_s:
        return MachinePeaks(flops_per_s, bytes_per_s, seconds)
    return MachinePeaks(MIN_RIDGE * bytes_per_s, bytes_per_s, seconds, disturbed=True)
