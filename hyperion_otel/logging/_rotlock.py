"""The sidecar lock that makes one log file safe to share between processes.

``<log file>.lock`` holds an ``fcntl.flock`` and, in its first 8 bytes, a rotation
generation counter. Writers hold the lock *shared* for one ``write`` and first compare
the generation with the one they opened the file at (if it moved, another process
rotated: they reopen the path before writing). A rotation holds it *exclusive* while it
renames the file and bumps the generation. Hence no process appends to a file after it
was rotated away, which is what lets the background compressor read a rotated file
knowing it is complete. ``flock`` belongs to the open file description, so each user
(handler, compressor thread, forked child) opens its own ``RotationLock``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HAVE_FLOCK", "RotationLock"]

HAVE_FLOCK = sys.platform != "win32"

if HAVE_FLOCK:
    import fcntl


class RotationLock:
    """Shared/exclusive advisory lock plus generation counter in ``path``."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)

    def shared(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def exclusive(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def generation(self) -> bytes:
        """Current generation (opaque bytes; ``b""`` before the first rotation)."""
        return os.pread(self._fd, 8, 0)

    def bump(self) -> bytes:
        """Advance the generation; call only while holding the lock exclusive."""
        old = self.generation()
        new = ((int.from_bytes(old, "little") + 1) % (1 << 64)).to_bytes(8, "little")
        os.pwrite(self._fd, new, 0)
        return new

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
