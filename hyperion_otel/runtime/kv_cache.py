"""Paged KV cache: fixed-size blocks allocated as the sequence grows.

One block holds ``block_size`` token positions for every layer, K and V:
``[n_layers, 2, n_kv_heads, block_size, head_dim]`` float32, from the allocator seam, so
the memory pool sees each block as one allocation. With prefetch on, the block that the
next token will need is allocated as soon as the current one fills, off the path of the
step that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyperion_otel._seams.allocator import get_allocator
from hyperion_otel.errors import InvalidInputError, public

__all__ = ["CacheConfig", "PagedKVCache"]

F32 = npt.NDArray[np.float32]
MAX_BLOCK_SIZE = 1 << 16


@public
@dataclass(frozen=True)
class CacheConfig:
    """Paged KV cache settings (guide: ``HyperionCacheConfig``)."""

    block_size: int = 64
    enable_prefetch: bool = False

    def __post_init__(self) -> None:
        bs = self.block_size
        if isinstance(bs, bool) or not isinstance(bs, int) or not 1 <= bs <= MAX_BLOCK_SIZE:
            raise InvalidInputError(
                f"block_size must be an integer in [1, {MAX_BLOCK_SIZE}], got {bs!r}",
                field="block_size",
                value=repr(bs),
            )
        if not isinstance(self.enable_prefetch, bool):
            raise InvalidInputError(
                f"enable_prefetch must be a bool, got {self.enable_prefetch!r}",
                field="enable_prefetch",
                value=repr(self.enable_prefetch),
            )


class PagedKVCache:
    """KV storage of one sequence. ``free()`` returns every block to the allocator."""

    def __init__(
        self,
        n_layers: int,
        n_kv_heads: int,
        head_dim: int,
        max_tokens: int,
        config: CacheConfig,
        on_blocks_changed: Callable[[int], None] | None = None,
    ) -> None:
        self.n_layers, self.n_kv_heads, self.head_dim = n_layers, n_kv_heads, head_dim
        self.block_size = config.block_size
        self.prefetch = config.enable_prefetch
        self.max_tokens = max_tokens
        self.length = 0  # positions written
        self.blocks: list[F32] = []
        self.peak_blocks = 0
        self._allocator = get_allocator()
        self._on_change = on_blocks_changed
        # Per-layer lists of block views, rebuilt when a block is added; [Hkv, B, hd] each.
        self.k_views: list[list[F32]] = [[] for _ in range(n_layers)]
        self.v_views: list[list[F32]] = [[] for _ in range(n_layers)]

    @property
    def block_nbytes(self) -> int:
        return self.n_layers * 2 * self.n_kv_heads * self.block_size * self.head_dim * 4

    @property
    def capacity(self) -> int:
        return len(self.blocks) * self.block_size

    def _add_block(self) -> None:
        shape = (self.n_layers, 2, self.n_kv_heads, self.block_size, self.head_dim)
        block: F32 = self._allocator.allocate(shape, np.float32)  # type: ignore[assignment]
        self.blocks.append(block)
        for layer in range(self.n_layers):
            self.k_views[layer].append(block[layer, 0])
            self.v_views[layer].append(block[layer, 1])
        self.peak_blocks = max(self.peak_blocks, len(self.blocks))
        if self._on_change is not None:
            self._on_change(1)

    def reserve(self, n_new: int) -> None:
        """Make room for ``n_new`` more positions (plus one prefetched block if enabled)."""
        need = self.length + n_new
        if need > self.max_tokens:
            raise InvalidInputError(
                f"sequence of {need} tokens exceeds the context length {self.max_tokens}",
                field="prompt",
                value=need,
            )
        while self.capacity < need:
            self._add_block()
        if self.prefetch and self.capacity == need and need < self.max_tokens:
            self._add_block()

    def write(self, layer: int, k: F32, v: F32) -> None:
        # k, v [Hkv, T, hd] for positions length .. length+T-1 (call ``advance`` after all layers)
        t = k.shape[1]
        pos, bs, done = self.length, self.block_size, 0
        while done < t:
            b, off = divmod(pos + done, bs)
            n = min(bs - off, t - done)
            self.k_views[layer][b][:, off : off + n] = k[:, done : done + n]
            self.v_views[layer][b][:, off : off + n] = v[:, done : done + n]
            done += n

    def advance(self, t: int) -> None:
        self.length += t

    def gather(self, layer: int, length: int) -> tuple[F32, F32]:
        """Contiguous copies ``[Hkv, length, hd]`` of the first ``length`` positions."""
        k = np.concatenate(self.k_views[layer], axis=1)[:, :length]
        v = np.concatenate(self.v_views[layer], axis=1)[:, :length]
        return k, v

    def free(self) -> None:
        n = len(self.blocks)
        for block in self.blocks:
            self._allocator.free(block)
        self.blocks = []
        self.k_views = [[] for _ in range(self.n_layers)]
        self.v_views = [[] for _ in range(self.n_layers)]
        self.length = 0
        if n and self._on_change is not None:
            self._on_change(-n)
