"""Arena arithmetic: numpy byte segments carved into 64-byte aligned blocks.

Each segment keeps its free blocks as a sorted list of start offsets plus a dict
``start -> size``. Allocation is address-ordered first fit (low fragmentation in practice
and O(number of free blocks), which stays small because frees coalesce). Freeing merges a
block with its free neighbours (bisect on the starts). The ``Arena`` puts size-class reuse
bins in front of the free lists and adds segments up to a budget. Not thread-safe: the
pool calls it with its lock held.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

__all__ = ["ALIGN", "Arena", "Segment", "merged_free_runs", "round_up"]

MIN_GROWTH = 1024 * 1024

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

    def contains(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size


class Arena:
    """Segments, reuse bins and the budget: hands out ``(segment, offset)`` of blocks."""

    def __init__(self, initial: int, maximum: int) -> None:
        self.initial = initial
        self.maximum = maximum
        self.segments: list[Segment] = []
        self.bins: dict[int, list[tuple[Segment, int]]] = {}
        self.cached = 0  # bytes sitting in reuse bins
        self.reserved = 0  # bytes of all segments
        # ("grown" | "released", segment bytes, reserved bytes after): the pool logs these
        # once its lock is released, then clears the list.
        self.events: list[tuple[str, int, int]] = []
        self._created = 0
        if initial:
            self._add_segment(initial)

    def take(self, size: int) -> tuple[Segment, int] | None:
        """A block of ``size`` bytes (a multiple of ALIGN), or None if the budget forbids it.

        Order: a binned block of the same size, first fit in the free lists, the same after
        merging the bins back, a new segment.
        """
        bin_ = self.bins.get(size)
        if bin_:
            self.cached -= size
            seg, off = bin_.pop()
        else:
            found = self._first_fit(size)
            if found is None and self.cached:
                self.flush_bins()
                found = self._first_fit(size)
            if found is None:
                found = self._grow(size)
                if found is None:
                    return None
            seg, off = found
        seg.live += 1
        return seg, off

    def give(self, seg: Segment, offset: int, size: int, reuse: bool) -> None:
        """Take a block back: into its size bin with ``reuse``, else into the free list."""
        seg.live -= 1
        if reuse:
            bin_ = self.bins.get(size)
            if bin_ is None:
                self.bins[size] = [(seg, offset)]
            else:
                bin_.append((seg, offset))
            self.cached += size
            return
        if self.cached:
            self.flush_bins()
        seg.release(offset, size)

    def flush_bins(self) -> None:
        for size, entries in self.bins.items():
            for seg, off in entries:
                seg.release(off, size)
        self.bins.clear()
        self.cached = 0

    def release_idle(self, seg: Segment, retain: int) -> bool:
        """Drop ``seg`` (never the first) if nothing in it is live and the arena holds more
        than ``retain`` bytes. Returns True if it was dropped."""
        if seg.live or seg is self.segments[0] or self.reserved <= retain:
            return False
        for size, entries in self.bins.items():
            kept = [(s, o) for s, o in entries if s is not seg]
            if len(kept) != len(entries):
                for s, o in entries:
                    if s is seg:
                        seg.release(o, size)
                self.cached -= size * (len(entries) - len(kept))
                entries[:] = kept
        if not seg.is_empty():
            return False
        self.segments.remove(seg)
        self.reserved -= seg.size
        self.events.append(("released", seg.size, self.reserved))
        return True

    def contains(self, addr: int) -> bool:
        return any(seg.contains(addr) for seg in self.segments)

    def _first_fit(self, size: int) -> tuple[Segment, int] | None:
        for seg in self.segments:
            off = seg.carve(size)
            if off >= 0:
                return seg, off
        return None

    def _grow(self, size: int) -> tuple[Segment, int] | None:
        room = self.maximum - self.reserved
        if size > room:
            return None
        # Double the arena (at least MIN_GROWTH, at least the request) within the budget.
        grow = max(size, min(max(self.reserved, self.initial, MIN_GROWTH), room) & -ALIGN)
        seg = self._add_segment(grow)
        self.events.append(("grown", grow, self.reserved))
        return seg, seg.carve(size)

    def _add_segment(self, size: int) -> Segment:
        seg = Segment(size, self._created)
        self._created += 1
        self.segments.append(seg)
        self.reserved += size
        return seg


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
