"""The memory optimizer: a small policy object that the pool and the runtime consult.

There is one current optimizer per process (``get_memory_optimizer()``; a default one,
reuse on, in-place on, tradeoff 0.5, until ``configure_memory_optimizer`` installs
another). The pool reads it on every free; the runtime reads its properties:

- ``reuse_enabled``: the pool keeps freed blocks in per-size bins for the next request;
- ``in_place_enabled``: the runtime's layers share one activation buffer set, overwritten
  layer after layer; off, each layer gets its own set (more pool memory per request);
- ``tradeoff`` in [0, 1]: the pool keeps ``retained_bytes`` of idle segments (at 0 only the
  initial size: idle segments go back to the system when their last block is freed); from
  0.75 up (``preallocate``) the runtime reserves a request's whole KV cache before prefill
  and each model keeps its workspaces and KV blocks for its next request, which then makes
  no new pool allocation. Below 0.75 the runtime frees everything when a request ends.
Kept buffers are live pool allocations (a leak check lists them, allocated in the runtime);
they go back when the model is collected, or at its next request once the tradeoff is
below 0.75.

The runtime reads ``policy`` through the allocator seam (``_seams.allocator``), which
``configure_memory_optimizer`` points at the current optimizer.
"""

from __future__ import annotations

import threading

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.memory.config import MemoryOptimizerConfig, check_tradeoff

__all__ = [
    "MemoryOptimizer",
    "configure_memory_optimizer",
    "get_memory_optimizer",
    "set_memory_speed_tradeoff",
]


@public
class MemoryOptimizer:
    """Live policy built from a ``MemoryOptimizerConfig``; the tradeoff may change later."""

    def __init__(self, config: MemoryOptimizerConfig | None = None) -> None:
        if config is not None and not isinstance(config, MemoryOptimizerConfig):
            raise InvalidInputError(
                f"MemoryOptimizer expects a MemoryOptimizerConfig, got {config!r}",
                value=repr(config),
            )
        cfg = config or MemoryOptimizerConfig()
        self._config = cfg
        self.reuse_enabled: bool = cfg.enable_tensor_reuse
        self.in_place_enabled: bool = cfg.enable_in_place_ops
        self._tradeoff = cfg.memory_speed_tradeoff

    @property
    def config(self) -> MemoryOptimizerConfig:
        """The config with the current tradeoff."""
        return MemoryOptimizerConfig(self.reuse_enabled, self.in_place_enabled, self._tradeoff)

    @property
    def tradeoff(self) -> float:
        return self._tradeoff

    @property
    def preallocate(self) -> bool:
        """True from tradeoff 0.75 up: the runtime reserves each request's KV cache up front
        and keeps its buffers between requests."""
        return self._tradeoff >= 0.75

    @property
    def policy(self) -> _allocator.MemoryPolicy:
        """What the runtime does with memory under this optimizer (see the module doc)."""
        keep = self.preallocate
        return _allocator.MemoryPolicy(self.in_place_enabled, keep, keep)

    def retained_bytes(self, initial_pool_size: int, max_pool_size: int) -> int:
        """Idle pool bytes the pool may keep: ``initial + tradeoff * (max - initial)``."""
        return initial_pool_size + int(self._tradeoff * (max_pool_size - initial_pool_size))

    def set_tradeoff(self, value: float, _stacklevel: int = 2) -> None:
        """Change the tradeoff (a ``ConfigError`` for a value outside [0, 1])."""
        self._tradeoff = check_tradeoff(value, stacklevel=_stacklevel)

    def __repr__(self) -> str:
        return (
            f"MemoryOptimizer(reuse={self.reuse_enabled}, in_place={self.in_place_enabled}, "
            f"tradeoff={self._tradeoff})"
        )


_lock = threading.Lock()
_current: MemoryOptimizer | None = None


def get_memory_optimizer() -> MemoryOptimizer:
    """The current optimizer (a default one is created on first use)."""
    global _current
    opt = _current
    if opt is None:
        with _lock:
            if _current is None:
                _current = MemoryOptimizer()
            opt = _current
    return opt


@public
def configure_memory_optimizer(config: MemoryOptimizerConfig | None = None) -> MemoryOptimizer:
    """Install a new current optimizer built from ``config`` and return it.

    Pools created with ``enable_optimization`` follow the current optimizer from their next
    free on (a pool that stops reusing blocks gives its cached blocks back to its free list);
    the runtime follows it from its next request (``reset_memory_optimizer`` undoes this).
    """
    global _current
    opt = MemoryOptimizer(config)
    with _lock:
        _current = opt
    _allocator.set_policy_source(_current_policy)
    return opt


def _current_policy() -> _allocator.MemoryPolicy:
    return get_memory_optimizer().policy


@public
def set_memory_speed_tradeoff(optimizer: MemoryOptimizer, value: float) -> None:
    """Change the tradeoff of ``optimizer`` (0 frees eagerly, 1 keeps and preallocates)."""
    if not isinstance(optimizer, MemoryOptimizer):
        raise InvalidInputError(
            f"set_memory_speed_tradeoff expects a MemoryOptimizer, got {optimizer!r}",
            value=repr(optimizer),
        )
    optimizer.set_tradeoff(value, _stacklevel=3)


def reset_memory_optimizer() -> None:
    """Forget the current optimizer (tests; the next read creates a default one)."""
    global _current
    with _lock:
        _current = None
    _allocator.set_policy_source(None)
