"""Error and statistics texts built from the pool's internals (called with its lock held)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperion_otel.errors import HyperionMemoryError
from hyperion_otel.memory._stacks import StackTable
from hyperion_otel.memory.heap import HeapStats, compute_heap_stats
from hyperion_otel.memory.tracker import Alloc, group_by_site, site_of

if TYPE_CHECKING:
    from hyperion_otel.memory.pool import MemoryPool

__all__ = ["budget_error", "corruption_error", "heap_stats", "merge_corruption"]

TOP_HOLDERS = 5


def heap_stats(pool: MemoryPool) -> HeapStats:
    if pool._guard:
        # Each guard region is wholly devoted to its allocation: nothing is free to reuse.
        return HeapStats(
            pool_bytes=pool._guard_reserved,
            used_bytes=pool._guard_reserved,
            allocation_count=len(pool._live),
            total_allocations=pool._total_allocations,
            peak_used_bytes=pool._used_peak,
            max_pool_bytes=pool.max_pool_size,
        )
    arena = pool._arena
    return compute_heap_stats(
        arena.segments,
        arena.bins,
        pool_bytes=arena.reserved,
        used_bytes=pool._used,
        cached_bytes=arena.cached,
        allocation_count=len(pool._live),
        total_allocations=pool._total_allocations,
        peak_used_bytes=pool._used_peak,
        max_pool_bytes=pool.max_pool_size,
    )


def top_holders(pool: MemoryPool, limit: int = TOP_HOLDERS) -> list[tuple[str, int, int]]:
    """``(site, bytes, count)`` of the biggest live allocation sites."""
    groups = group_by_site(pool._live.values())[:limit]
    return [(site_of(g.example, pool._stacks), g.nbytes, g.count) for g in groups]


def budget_error(
    pool: MemoryPool, size: int, shape: tuple[int, ...], dt: np.dtype[Any]
) -> HyperionMemoryError:
    stats = heap_stats(pool)
    holders = top_holders(pool)
    lines = [
        f"  {nbytes} bytes in {count} allocation(s) at {site}" for site, nbytes, count in holders
    ]
    hint = "" if pool._track else " (enable memory tracking to see allocation sites)"
    budget = f"max_pool_size {stats.max_pool_bytes}"
    if stats.max_pool_bytes < pool.config.max_pool_size:
        budget = (
            f"budget {stats.max_pool_bytes} (capped by a resource limit; max_pool_size "
            f"{pool.config.max_pool_size})"
        )
    msg = (
        f"memory pool budget exceeded: allocating {dt}{list(shape)} needs a {size}-byte block, "
        f"but the pool holds {stats.pool_bytes} of its {budget} bytes "
        f"with {stats.used_bytes} used in {stats.allocation_count} allocation(s) and "
        f"{stats.free_bytes} free (largest free block {stats.largest_free_block})."
        f" Biggest holders{hint}:\n" + ("\n".join(lines) or "  (none)")
    )
    return HyperionMemoryError(
        msg,
        stacklevel=4,
        requested_bytes=size,
        pool_bytes=stats.pool_bytes,
        used_bytes=stats.used_bytes,
        max_pool_bytes=stats.max_pool_bytes,
        holders=holders,
    )


def corruption_error(
    rec: Alloc, bad: tuple[str, int], stacks: StackTable, found_by: str
) -> HyperionMemoryError:
    side, offset = bad
    site = stacks.site(rec.stack)
    where = (
        f"{site.file}:{site.line} in {site.function}" if site else "an unknown site (tracking off)"
    )
    msg = (
        f"memory corruption in allocation #{rec.id} ({rec.dtype}{list(rec.shape)}, {rec.nbytes} "
        f"bytes) allocated at {where}: the canary {side} the data was overwritten "
        f"(first damaged byte at data offset {offset}); found by {found_by}"
    )
    return HyperionMemoryError(
        msg,
        stacklevel=4,
        allocation_id=rec.id,
        shape=list(rec.shape),
        dtype=str(rec.dtype),
        side=side,
        offset=offset,
        alloc_file=site.file if site else None,
        alloc_line=site.line if site else None,
    )


def merge_corruption(errors: list[HyperionMemoryError]) -> HyperionMemoryError:
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    msg = f"{len(errors)} allocations corrupted:\n" + "\n".join(f"  {e.message}" for e in errors)
    return HyperionMemoryError(msg, stacklevel=3, **first.details, damaged=len(errors))
