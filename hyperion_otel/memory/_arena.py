"""Arena arithmetic: numpy byte segments carved into 64-byte aligned blocks.

Each segment keeps its free blocks as a sorted list of start offsets plus a dict
``start -> size``. Allocation is address-ordered first fit (low fragmentation in practice
and O(number of free blocks), which stays small because frees coalesce). Freeing merges a
block with its free neighbours (bisect on the starts). Size-class reuse bins live in the
pool, in front of this free list.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

__all__ = ["ALIGN", "Segment", "merged_free_runs", "round_up"]

ALIGN = 64


def round_up(n: int, align: int = ALIGN) -> int:
    return (n + align - 1) & ~(align - 1)


class Segment:
    """One contiguous numpy buffer of ``size`` bytes whose first byte is 64-byte aligned."""

    __slots__ = ("base", "buf", "free_total", "index", "live", "size", "sizes", "starts")

    def __init__(self, size: int, index: int) -> None:
        raw = np.empty(size + ALIGN, dtype=np.uint8)
        raw_addr: int = raw.__array_interface__["data"][0]
        pad = (-raw_addr) % ALIGN
        self.buf: npt.NDArray[np.uint8] = raw[pad : pad + size]
        self.base: int = raw_addr + pad
        self.size = size
        self.index = index  # creation order, for stable reporting
        self.starts: list[int] = [0] if size else []
        self.sizes: dict[int, int] = {0: size} if size else {}
        self.free_total = size
        self.live = 0  # blocks handed out and not yet returned (including those in reuse bins)

    def carve(self, size: int) -> int:
        """First-fit allocate ``size`` bytes (a multiple of ALIGN); -1 if no free block fits."""
        if size > self.free_total:
            return -1
        sizes = self.sizes
        starts = self.starts
        for i, start in enumerate(starts):
            have = sizes[start]
            if have >= size:
                del sizes[start]
                if have > size:
                    # The remainder keeps its place in the sorted order.
                    starts[i] = start + size
                    sizes[start + size] = have - size
                else:
                    del starts[i]
                self.free_total -= size
                return start
        return -1

    def release(self, offset: int, size: int) -> None:
        """Return a block to the free list, merging it with free neighbours."""
        starts = self.starts
        sizes = self.sizes
        i = bisect_left(starts, offset)
        self.free_total += size
        if i > 0:
            prev = starts[i - 1]
            if prev + sizes[prev] == offset:
                offset = prev
                size += sizes[prev]
                i -= 1
                del starts[i]
        if i < len(starts) and offset + size == starts[i]:
            size += sizes.pop(starts[i])
            del starts[i]
        starts.insert(i, offset)
        sizes[offset] = size

    def is_empty(self) -> bool:
        return self.free_total == self.size

    def largest_free(self) -> int:
        return max(self.sizes.values(), default=0)

    def contains(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size


def merged_free_runs(free: list[tuple[int, int]]) -> Iterator[int]:
    """Lengths of contiguous free runs from ``(offset, size)`` pieces of one segment."""
    run_start = run_end = -1
    for off, size in sorted(free):
        if off == run_end:
            run_end += size
            continue
        if run_end > run_start:
            yield run_end - run_start
        run_start, run_end = off, off + size
    if run_end > run_start:
        yield run_end - run_start
