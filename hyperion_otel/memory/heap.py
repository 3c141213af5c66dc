"""Heap statistics of the pool (the guide's ``hyperionGetHeapStats``).

Definitions (bytes are block bytes: requests rounded up to 64 and, with canaries on,
including them):

- ``pool_bytes``: memory the pool holds (all segments, or all guard regions);
- ``used_bytes``: blocks handed out and not yet freed; ``free_bytes = pool - used``
  (``cached_bytes`` of it sit in reuse bins, ready for a request of the same size);
- ``largest_free_block``: the longest contiguous free run (free-list blocks and binned
  blocks that touch are counted as one run, as the pool would coalesce them when needed);
- ``fragmentation = 1 - largest_free_block / free_bytes``, in [0, 1]: 0 when all free memory
  is one block (or nothing is free), towards 1 when it is scattered in small pieces, so a big
  request may fail although enough bytes are free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hyperion_otel.errors import public
from hyperion_otel.memory._arena import Segment, merged_free_runs

__all__ = ["HeapStats", "compute_heap_stats"]


@public
@dataclass(frozen=True)
class HeapStats:
    """Snapshot of the pool's heap; see the module doc for each field's definition."""

    pool_bytes: int = 0
    used_bytes: int = 0
    free_bytes: int = 0
    largest_free_block: int = 0
    fragmentation: float = 0.0
    cached_bytes: int = 0
    allocation_count: int = 0
    total_allocations: int = 0
    peak_used_bytes: int = 0
    max_pool_bytes: int = 0
    segments: int = 0


def largest_run(
    segments: Sequence[Segment], bins: Mapping[int, Iterable[tuple[Segment, int]]]
) -> int:
    """Longest contiguous free run over the free lists and the reuse bins."""
    per_seg: dict[int, list[tuple[int, int]]] = {id(s): list(s.sizes.items()) for s in segments}
    for size, entries in bins.items():
        for seg, off in entries:
            per_seg.setdefault(id(seg), []).append((off, size))
    return max((run for pieces in per_seg.values() for run in merged_free_runs(pieces)), default=0)


def compute_heap_stats(
    segments: Sequence[Segment],
    bins: Mapping[int, Iterable[tuple[Segment, int]]],
    *,
    pool_bytes: int,
    used_bytes: int,
    cached_bytes: int,
    allocation_count: int,
    total_allocations: int,
    peak_used_bytes: int,
    max_pool_bytes: int,
) -> HeapStats:
    free = pool_bytes - used_bytes
    largest = largest_run(segments, bins)
    frag = 1.0 - largest / free if free > 0 else 0.0
    return HeapStats(
        pool_bytes=pool_bytes,
        used_bytes=used_bytes,
        free_bytes=free,
        largest_free_block=largest,
        fragmentation=min(1.0, max(0.0, frag)),
        cached_bytes=cached_bytes,
        allocation_count=allocation_count,
        total_allocations=total_allocations,
        peak_used_bytes=peak_used_bytes,
        max_pool_bytes=max_pool_bytes,
        segments=len(segments),
    )
