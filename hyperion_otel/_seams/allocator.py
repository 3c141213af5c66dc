"""The allocator seam between the runtime and the memory pool.

The runtime allocates every activation and KV block through ``get_allocator()``.
The default hands out plain ``np.empty`` arrays; ``init_memory()`` installs a
``MemoryPool`` here, and ``set_allocator()`` returns the previous one so it can be undone.

``memory_policy()`` is how the runtime learns the memory optimizer's choices (in-place
buffers, keeping buffers between requests, reserving the KV cache up front) without
importing the memory facility: ``configure_memory_optimizer()`` installs a source here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "Allocator",
    "MemoryPolicy",
    "NumpyAllocator",
    "get_allocator",
    "memory_policy",
    "set_allocator",
    "set_policy_source",
]

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


@dataclass(frozen=True)
class MemoryPolicy:
    """How the runtime spends memory for speed (from ``MemoryOptimizer.policy``).

    ``in_place``: every layer writes its activations into one shared buffer set; off, each
    layer has its own set (more pool memory and allocations per request; every layer's
    activations stay intact until the request ends).
    ``keep_between_requests``: a model keeps its workspaces and KV blocks after a request
    and the next request reuses them (no new pool allocation when they fit).
    ``reserve_up_front``: the KV cache for prompt + ``max_new_tokens`` is allocated before
    prefill, so decode steps never allocate KV blocks.
    """

    in_place: bool = True
    keep_between_requests: bool = False
    reserve_up_front: bool = False


DEFAULT_POLICY = MemoryPolicy()
_policy_source: Callable[[], MemoryPolicy] | None = None


def memory_policy() -> MemoryPolicy:
    """The current policy (the default when no optimizer was configured). Never raises."""
    source = _policy_source
    if source is None:
        return DEFAULT_POLICY
    try:
        return source()
    except Exception:  # noqa: BLE001 - a policy read must not break a generate call
        return DEFAULT_POLICY


def set_policy_source(
    source: Callable[[], MemoryPolicy] | None,
) -> Callable[[], MemoryPolicy] | None:
    """Install where ``memory_policy()`` reads from (``None``: the default); returns the
    previous source so it can be undone."""
    global _policy_source
    with _lock:
        previous, _policy_source = _policy_source, source
    return previous
