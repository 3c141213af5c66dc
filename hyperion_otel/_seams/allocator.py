"""The allocator seam between the runtime and the memory pool.

The runtime allocates every activation and KV block through ``get_allocator()``.
The default hands out plain ``np.empty`` arrays; ``init_memory()`` installs a
``MemoryPool`` here, and ``set_allocator()`` returns the previous one so it can be undone.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Allocator", "NumpyAllocator", "get_allocator", "set_allocator"]

Shape = tuple[int, ...]


class Allocator(Protocol):
    def allocate(
        self, shape: Shape | int, dtype: npt.DTypeLike = np.float32
    ) -> npt.NDArray[np.generic]:
        """Return an uninitialised C-contiguous array of ``shape`` and ``dtype``."""
        ...

    def free(self, array: npt.NDArray[np.generic]) -> None:
        """Give ``array`` back; using it afterwards is a bug the debug modes can catch."""
        ...


class NumpyAllocator:
    """Plain numpy allocation; ``free`` leaves the array to the garbage collector."""

    def allocate(
        self, shape: Shape | int, dtype: npt.DTypeLike = np.float32
    ) -> npt.NDArray[np.generic]:
        return np.empty(shape, dtype=dtype)

    def free(self, array: npt.NDArray[np.generic]) -> None:
        return None


_lock = threading.Lock()
_current: Allocator = NumpyAllocator()


def get_allocator() -> Allocator:
    return _current


def set_allocator(allocator: Allocator | None) -> Allocator:
    """Install ``allocator`` (``None`` restores plain numpy); returns the previous one."""
    global _current
    with _lock:
        previous = _current
        _current = allocator if allocator is not None else NumpyAllocator()
    return previous
