"""The two corruption-catching modes of the debug allocator.

Canaries (``check_corruption``): each arena block is laid out as
``[64 canary bytes][data][>= 16 canary bytes up to the block end]`` so the data stays
64-byte aligned; the canaries are written at allocation and compared at free and by
``check_memory_corruption()``. This finds an overrun after the fact, cheaply.

Guard pages (``enable_guard_pages``): each allocation gets its own anonymous mmap of
``ceil(nbytes / page) + 1`` pages; the last page is made PROT_NONE with ``mprotect`` and the
array is right-aligned against it, so the first byte written past the end faults at once
(SIGSEGV) and ``faulthandler`` prints the Python file and line that did it. Freed regions
are protected entirely, so a use after free faults too. Cost: at least one page of address
space per allocation, ~3 syscalls per allocate/free: a debug mode, not for production.
Underruns (writes before the start) are not caught by guard pages; canaries catch them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import mmap
import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperion_otel.errors import HyperionMemoryError, InvalidInputError

__all__ = [
    "CANARY_BACK_MIN",
    "CANARY_BYTE",
    "CANARY_FRONT",
    "FaultHandlerHold",
    "GuardRegion",
    "check_canaries",
    "guard_pages_supported",
    "write_canaries",
]

CANARY_FRONT = 64
CANARY_BACK_MIN = 16
CANARY_BYTE = 0xFD  # as MSVC's debug heap "no man's land"
_PATTERN = bytes([CANARY_BYTE]) * 4096

PROT_NONE = 0


def write_canaries(
    buf: npt.NDArray[np.uint8], block: int, data: int, nbytes: int, end: int
) -> None:
    """Fill ``[block, data)`` and ``[data + nbytes, end)`` of a segment with the canary byte."""
    buf[block:data] = CANARY_BYTE
    buf[data + nbytes : end] = CANARY_BYTE


def check_canaries(
    buf: npt.NDArray[np.uint8], block: int, data: int, nbytes: int, end: int
) -> tuple[str, int] | None:
    """``None`` if both canaries are intact, else ``(side, offset)`` of the first damaged byte.

    ``side`` is ``"before"`` or ``"after"``; ``offset`` is relative to the start of the data
    (negative before it, ``>= nbytes`` after it).
    """
    front = buf[block:data].tobytes()
    if front != _PATTERN[: data - block]:
        first = next(i for i, b in enumerate(front) if b != CANARY_BYTE)
        return "before", block + first - data
    back = buf[data + nbytes : end].tobytes()
    if back != _PATTERN[: len(back)]:
        first = next(i for i, b in enumerate(back) if b != CANARY_BYTE)
        return "after", nbytes + first
    return None


class _Libc:
    _lock = threading.Lock()
    _fn: Any = None

    @classmethod
    def mprotect(cls, addr: int, length: int, prot: int) -> None:
        fn = cls._fn
        if fn is None:
            with cls._lock:
                if cls._fn is None:
                    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
                    f = libc.mprotect
                    f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                    f.restype = ctypes.c_int
                    cls._fn = f
                fn = cls._fn
        if fn(addr, length, prot) != 0:
            err = ctypes.get_errno()
            raise HyperionMemoryError(
                f"mprotect(0x{addr:x}, {length}, {prot}) failed with errno {err}",
                errno=err,
            )


def guard_pages_supported() -> bool:
    return sys.platform != "win32" and hasattr(mmap, "MAP_ANONYMOUS")


def require_guard_pages() -> None:
    if not guard_pages_supported():
        raise InvalidInputError(
            f"enable_guard_pages needs mmap/mprotect (Linux, macOS); not available on {sys.platform}",
            stacklevel=3,
            field="enable_guard_pages",
            value="True",
        )


class GuardRegion:
    """One allocation's mmap: data pages followed by a PROT_NONE guard page."""

    __slots__ = ("base", "data_len", "length", "mm")

    def __init__(self, nbytes: int) -> None:
        page = mmap.PAGESIZE
        self.data_len = max(1, -(-nbytes // page)) * page
        self.length = self.data_len + page
        self.mm = mmap.mmap(-1, self.length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        whole = np.frombuffer(self.mm, dtype=np.uint8)
        self.base: int = whole.__array_interface__["data"][0]
        del whole
        _Libc.mprotect(self.base + self.data_len, page, PROT_NONE)

    @staticmethod
    def length_for(nbytes: int) -> int:
        """Bytes of address space a region for ``nbytes`` takes (data pages + guard page)."""
        page = mmap.PAGESIZE
        return (max(1, -(-nbytes // page)) + 1) * page

    def array(self, shape: tuple[int, ...], dtype: np.dtype[Any], nbytes: int) -> npt.NDArray[Any]:
        """The user array, ending exactly at the guard page."""
        count = nbytes // dtype.itemsize if dtype.itemsize else 0
        arr = np.frombuffer(self.mm, dtype=dtype, count=count, offset=self.data_len - nbytes)
        return arr.reshape(shape)

    def data_addr(self, nbytes: int) -> int:
        return self.base + self.data_len - nbytes

    def retire(self) -> None:
        """Protect the whole region: any later access to the freed array faults.

        The mapping itself is unmapped by the mmap object's finaliser once the last array
        viewing it is gone.
        """
        _Libc.mprotect(self.base, self.data_len, PROT_NONE)


class FaultHandlerHold:
    """Keeps ``faulthandler`` enabled while any holder needs it, then restores the prior state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._enabled_by_us = False

    def acquire(self) -> None:
        with self._lock:
            self._count += 1
            if self._count > 1 or faulthandler.is_enabled():
                return
            try:
                faulthandler.enable(all_threads=True)
            except (AttributeError, ValueError, OSError):  # sys.stderr without a real fd
                if sys.__stderr__ is None:
                    return
                try:
                    faulthandler.enable(file=sys.__stderr__, all_threads=True)
                except (AttributeError, ValueError, OSError):
                    return
            self._enabled_by_us = True

    def release(self) -> None:
        with self._lock:
            if self._count == 0:
                return
            self._count -= 1
            if self._count == 0 and self._enabled_by_us:
                faulthandler.disable()
                self._enabled_by_us = False


FAULT_HANDLER = FaultHandlerHold()
