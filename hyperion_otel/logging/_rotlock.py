"""The sidecar lock that makes one log file safe to share between processes.

``<log file>.lock`` holds an ``fcntl.flock`` and, in its first 8 bytes, a rotation
generation counter (read through a shared ``mmap``, so checking it costs no system call). Writers hold the lock *shared* for one ``write`` and first compare
the generation with the one they opened the file at (if it moved, another process
rotated: they reopen the path before writing). A rotation holds it *exclusive* while it
renames the file and bumps the generation. Hence no process appends to a file after it
was rotated away, which is what lets the background compressor read a rotated file
knowing it is complete. ``flock`` belongs to the open file description, so each user
(handler, compressor thread, forked child) opens its own ``RotationLock``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import sys

__all__ = ["HAVE_FLOCK", "RotationLock"]

HAVE_FLOCK = sys.platform != "win32"

if HAVE_FLOCK:
    import fcntl


class RotationLock:
    """Shared/exclusive advisory lock plus generation counter in ``path``."""

    __slots__ = ("_fd", "_map", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
        self._map: mmap.mmap | None = None
        try:
            if os.fstat(self._fd).st_size < 8:
                # Growing to 8 bytes keeps a counter another process may just have written.
                os.ftruncate(self._fd, 8)
            self._map = mmap.mmap(self._fd, 8, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):
            self._map = None  # fall back to pread/pwrite

    def shared(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def exclusive(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def generation(self) -> bytes:
        """Current generation (opaque bytes); read while holding the lock."""
        m = self._map
        return m[:8] if m is not None else os.pread(self._fd, 8, 0)

    def bump(self) -> bytes:
        """Advance the generation; call only while holding the lock exclusive."""
        old = self.generation()
        new = ((int.from_bytes(old, "little") + 1) % (1 << 64)).to_bytes(8, "little")
        if self._map is not None:
            self._map[:8] = new
        else:
            os.pwrite(self._fd, new, 0)
        return new

    def close(self) -> None:
        if self._map is not None:
            with contextlib.suppress(OSError, ValueError):
                self._map.close()
            self._map = None
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
