"""The sidecar lock that makes one log file safe to share between processes.

``.<log file name>.lock`` (a dotfile beside the log, see :func:`lock_path`) holds an
``fcntl.flock`` and a rotation generation counter. The file stays **empty**: the counter
is its modification time, one second further per rotation (whole seconds, which every
local file system keeps; so it runs ahead of the clock), set with ``futimens`` and read
with ``fstat``. So no log shipper that globs the directory ever reads bytes from it, and
its name does not start with the log's name, so ``hyperion.log*`` does not match it.

Writers hold the lock *shared* for one ``write`` and first compare the generation with
the one they opened the file at (if it moved, another process rotated: they reopen the
path before writing). A rotation holds it *exclusive* while it renames the file and
bumps the generation. Hence no process appends to a file after it was rotated away,
which is what lets the background compressor read a rotated file knowing it is
complete. ``flock`` belongs to the open file description, so each user (handler,
compressor thread, forked child) opens its own ``RotationLock``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HAVE_FLOCK", "RotationLock", "lock_path"]

HAVE_FLOCK = sys.platform != "win32"

if HAVE_FLOCK:
    import fcntl

_SECOND_NS = 1_000_000_000


def lock_path(log_path: str) -> str:
    """``/dir/hyperion.log`` -> ``/dir/.hyperion.log.lock``."""
    head, tail = os.path.split(log_path)
    return os.path.join(head, f".{tail}.lock")


class RotationLock:
    """Shared/exclusive advisory lock on the empty file ``path``, whose modification time
    is the rotation generation."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)

    def shared(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def exclusive(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def generation(self) -> int:
        """Current generation (opaque); read while holding the lock."""
        return os.fstat(self._fd).st_mtime_ns

    def bump(self) -> int:
        """Advance the generation; call only while holding the lock exclusive.

        One second per step: a file system that keeps only whole seconds still sees every
        step. ``futime`` on a descriptor opened read-only is allowed to the file's owner;
        a writer that does not own the lock file cannot rotate (the error is the
        caller's ``rotate`` fault) but still follows the owner's rotations."""
        new = (self.generation() // _SECOND_NS + 1) * _SECOND_NS
        os.utime(self._fd, ns=(new, new))
        return new

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
