"""``ResourceLimits``: the guide's ``HyperionResourceLimits`` as a validated frozen dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hyperion_otel.errors import InvalidInputError, public

__all__ = ["MAX_CPU_PERCENT", "MAX_MEMORY_MB", "MAX_THREADS", "ResourceLimits"]

# Upper bounds, as HYPERION_MAX_* in the settings accept them.
MAX_CPU_PERCENT = 100.0 * 1024
MAX_MEMORY_MB = 1e8
MAX_THREADS = 4096


def _bad(field: str, value: Any, expected: str, stacklevel: int = 4) -> InvalidInputError:
    # stacklevel: past __post_init__ and the generated __init__ to the caller's line.
    return InvalidInputError(
        f"ResourceLimits.{field} = {value!r} is invalid: expected {expected}, or None for no limit",
        stacklevel=stacklevel,
        field=field,
        value=repr(value),
    )


def _number(field: str, value: Any, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= high:
        raise _bad(field, value, f"a number in (0, {high:g}]", stacklevel=5)


@public
@dataclass(frozen=True)
class ResourceLimits:
    """Limits for a model's work; ``None`` means no limit.

    ``max_cpu_percent``: CPU share as ``top`` and psutil count it (100 = one core; on N
    cores the process can reach 100*N), held by sleeping between units of work.
    ``max_memory_mb``: process resident memory (RSS, MiB) checked before and after each
    unit of work, including the peak a unit reached.
    ``max_threads``: BLAS/OpenMP threads while the model works.
    """

    max_cpu_percent: float | None = None
    max_memory_mb: float | None = None
    max_threads: int | None = None

    def __post_init__(self) -> None:
        if self.max_cpu_percent is not None:
            _number("max_cpu_percent", self.max_cpu_percent, MAX_CPU_PERCENT)
        if self.max_memory_mb is not None:
            _number("max_memory_mb", self.max_memory_mb, MAX_MEMORY_MB)
        n = self.max_threads
        if n is not None and (
            not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_THREADS
        ):
            raise _bad("max_threads", n, f"an integer in [1, {MAX_THREADS}]")

    @property
    def unlimited(self) -> bool:
        return (
            self.max_cpu_percent is None and self.max_memory_mb is None and self.max_threads is None
        )
