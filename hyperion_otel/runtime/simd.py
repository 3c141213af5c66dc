"""Vectorised versus reference kernels (guide: ``hyperionEnableSIMD``)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from hyperion_otel.errors import InvalidInputError, public

if TYPE_CHECKING:
    from hyperion_otel.runtime.model import Model

__all__ = ["SimdOp", "enable_simd"]


class SimdOp(enum.Flag):
    """Kernel families that have a vectorised and a reference implementation."""

    MATMUL = enum.auto()  # BLAS float32 GEMM vs float64 accumulation
    ATTENTION = enum.auto()  # batched across heads vs one head at a time in float64
    ACTIVATION = enum.auto()  # in-place float32 GELU/SwiGLU vs float64
    ALL = MATMUL | ATTENTION | ACTIVATION


@public
def enable_simd(model: Model, ops: SimdOp = SimdOp.ALL, *, on: bool = True) -> None:
    """Use vectorised kernels for ``ops`` (``on=True``) or the reference kernels (``on=False``).

    The reference kernels are slow but accumulate in float64: a numerical oracle when
    output looks wrong. All ops are vectorised by default.
    """
    from hyperion_otel.runtime.model import Model

    if not isinstance(model, Model):
        raise InvalidInputError(f"model must be a Model, got {type(model).__name__}", field="model")
    if not isinstance(ops, SimdOp):
        raise InvalidInputError(
            f"ops must be a SimdOp flag, got {ops!r}", field="ops", value=repr(ops)
        )
    model.simd = (model.simd | ops) if on else (model.simd & ~ops)
