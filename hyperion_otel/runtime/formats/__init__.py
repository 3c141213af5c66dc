"""Checkpoint formats: each exposes its tensors through ``TensorSource``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["TensorInfo", "TensorSource"]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # format's own dtype name, e.g. "F16", "BF16", "Q8_0"
    shape: tuple[int, ...]  # numpy (row-major) order
    nbytes: int


class TensorSource(Protocol):
    """Read access to a checkpoint's tensors, one tensor at a time."""

    path: str
    format: str
    format_version: str | None

    def infos(self) -> dict[str, TensorInfo]: ...

    def read_fp32(self, name: str) -> npt.NDArray[np.float32]:
        """The whole tensor converted to float32, C-contiguous."""
        ...

    def sample_fp32(self, name: str, max_elements: int) -> Iterator[npt.NDArray[np.float32]]:
        """Chunks covering the tensor, or evenly spread chunks of at most ``max_elements`` in all."""
        ...

    def close(self) -> None: ...
