"""Buffers a model keeps between requests, as the memory policy says.

With ``MemoryPolicy.keep_between_requests`` (memory/speed tradeoff 0.75 and up) a request
gives its workspaces and KV cache back here instead of to the allocator, and the model's
next request takes them again: it makes no new pool allocation when they are big enough.
At most one prefill workspace, one decode workspace and one KV cache per model; a model
that is collected frees what it kept. Without the policy everything goes straight back to
the allocator, as before. With ``reserve_up_front`` the KV cache of a request is reserved
for its prompt plus ``max_new_tokens`` before prefill.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from hyperion_otel._seams.allocator import DEFAULT_POLICY, MemoryPolicy, memory_policy
from hyperion_otel.runtime.kv_cache import PagedKVCache
from hyperion_otel.runtime.model import Workspace

if TYPE_CHECKING:
    from hyperion_otel.runtime.model import Model

__all__ = [
    "DEFAULT_POLICY",
    "give_cache",
    "give_workspace",
    "policy",
    "take_cache",
    "take_workspace",
]


class _Kept:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workspaces: dict[str, Workspace] = {}  # "prefill" | "decode"
        self.cache: PagedKVCache | None = None

    def free(self) -> None:
        with self.lock:
            spaces, self.workspaces = list(self.workspaces.values()), {}
            cache, self.cache = self.cache, None
        for ws in spaces:
            ws.free()
        if cache is not None:
            cache.free()


_kept: weakref.WeakKeyDictionary[Model, _Kept] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def _of(model: Model) -> _Kept:
    with _kept_lock:
        kept = _kept.get(model)
        if kept is None:
            kept = _kept[model] = _Kept()
            weakref.finalize(model, kept.free)
        return kept


def policy() -> MemoryPolicy:
    return memory_policy()


def take_workspace(model: Model, role: str, rows: int, pol: MemoryPolicy) -> Workspace:
    """A workspace for ``rows`` tokens: the kept one when it fits, else a new one."""
    kept = _of(model)
    with kept.lock:
        ws = kept.workspaces.pop(role, None)
    if ws is not None:
        if ws.rows >= rows and ws.per_layer == (not pol.in_place):
            return ws
        ws.free()
    if not pol.keep_between_requests:
        _drop(model)
    return Workspace(model.config, rows, 1, per_layer=not pol.in_place)


def give_workspace(model: Model, role: str, ws: Workspace, pol: MemoryPolicy) -> None:
    if not pol.keep_between_requests:
        ws.free()
        return
    kept = _of(model)
    with kept.lock:
        old = kept.workspaces.get(role)
        if old is None or old.rows <= ws.rows:
            kept.workspaces[role] = ws
            ws = old  # type: ignore[assignment]
    if ws is not None:
        ws.free()


def take_cache(
    model: Model, on_blocks_changed: Callable[[int], None], tokens: int, pol: MemoryPolicy
) -> PagedKVCache:
    """An empty KV cache; the kept one (blocks and all) when the policy keeps buffers.
    With ``reserve_up_front`` it has room for ``tokens`` (capped at the context)."""
    kept = _of(model)
    with kept.lock:
        cache, kept.cache = kept.cache, None
    if cache is not None and cache.block_size != model.cache_config.block_size:
        cache.free()
        cache = None
    if cache is None:
        cache = model.new_cache(on_blocks_changed)
    cache.peak_blocks = len(cache.blocks)  # a kept cache: this request holds its blocks
    if pol.reserve_up_front:
        cache.reserve(min(tokens, cache.max_tokens))
    return cache


def give_cache(model: Model, cache: PagedKVCache, pol: MemoryPolicy) -> None:
    if not pol.keep_between_requests:
        cache.free()
        return
    cache.length = 0  # the blocks stay; the next request writes over them
    kept = _of(model)
    with kept.lock:
        old, kept.cache = kept.cache, cache
    if old is not None:
        old.free()


def _drop(model: Model) -> None:
    """Free whatever ``model`` kept (the policy no longer keeps buffers)."""
    with _kept_lock:
        kept = _kept.get(model)
    if kept is not None:
        kept.free()
