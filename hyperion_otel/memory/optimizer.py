"""The memory optimizer: a small policy object that the pool and the runtime consult.

There is one current optimizer per process (``get_memory_optimizer()``; a default one,
reuse on, in-place on, tradeoff 0.5, until ``configure_memory_optimizer`` installs
another). The pool reads it on every free; the runtime reads its properties:

- ``reuse_enabled``: the pool keeps freed blocks in per-size bins for the next request;
- ``in_place_enabled``: the runtime may overwrite activations in place where safe;
- ``tradeoff`` in [0, 1]: 0 frees eagerly (idle pool segments and finished sequences' KV
  blocks are given back at once), 1 keeps and preallocates (``preallocate`` is true from
  0.75 up; ``retained_bytes`` is how much idle pool memory the pool may keep).
"""

from __future__ import annotations

import threading

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
    def eager_free(self) -> bool:
        """True when memory should go back as soon as it is unused (tradeoff below 0.25)."""
        return self._tradeoff < 0.25

    @property
    def preallocate(self) -> bool:
        """True when the runtime should reserve its KV cache up front (tradeoff 0.75 or more)."""
        return self._tradeoff >= 0.75

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
    free on (a pool that stops reusing blocks gives its cached blocks back to its free list).
    """
    global _current
    opt = MemoryOptimizer(config)
    with _lock:
        _current = opt
    return opt


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
