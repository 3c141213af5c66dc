"""Fault injection for driving error paths: file-system faults and allocation failures.

Each injector is a context manager that undoes itself on exit, and only affects what it
names (files under one directory, or the current allocator), so the test runner itself
keeps working.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import HyperionMemoryError, InvalidInputError

__all__ = ["FailingAllocator", "IOFault", "allocation_failures", "io_fault"]

IOFault = Literal["disk_full", "permission_denied", "read_only"]

_ERRNO = {"disk_full": errno.ENOSPC, "permission_denied": errno.EACCES, "read_only": errno.EROFS}
_patch_lock = threading.Lock()


def _under(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


@contextmanager
def io_fault(kind: IOFault, directory: str | os.PathLike[str]) -> Iterator[dict[str, int]]:
    """Make file writes under ``directory`` fail with ENOSPC, EACCES or EROFS.

    ``disk_full`` fails ``os.write`` on files there (opening still works, as on a full
    disk); ``permission_denied`` and ``read_only`` fail ``os.open`` for writing there.
    Code that writes through ``os.open``/``os.write`` (hyperion-otel's log files and
    local telemetry files do) sees the fault. Yields a dict counting injected faults.
    """
    if kind not in _ERRNO:
        raise InvalidInputError(
            f"io_fault kind {kind!r} is not valid: expected one of {', '.join(_ERRNO)}",
            field="kind",
        )
    root = os.path.realpath(os.fspath(directory))
    code = _ERRNO[kind]
    counts = {"faults": 0}
    real_open, real_write = os.open, os.write

    def fake_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
        if kind != "disk_full" and writing and _under(os.fspath(path), root):
            counts["faults"] += 1
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def fake_write(fd: int, data: Any) -> int:
        if kind == "disk_full":
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target and _under(target, root):
                counts["faults"] += 1
                raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    with _patch_lock:
        os.open, os.write = fake_open, fake_write
    try:
        yield counts
    finally:
        with _patch_lock:
            os.open, os.write = real_open, real_write


class FailingAllocator:
    """Wraps an allocator: fails allocations past a byte budget or after N allocations."""

    def __init__(
        self,
        inner: _allocator.Allocator,
        budget_bytes: int | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.inner = inner
        self.budget_bytes = budget_bytes
        self.fail_after = fail_after
        self.allocations = 0
        self.live_bytes = 0
        self.failures = 0
        self._sizes: dict[int, int] = {}
        self._lock = threading.Lock()

    def allocate(
        self, shape: _allocator.Shape | int, dtype: npt.DTypeLike = np.float32
    ) -> npt.NDArray[np.generic]:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        with self._lock:
            self.allocations += 1
            over_count = self.fail_after is not None and self.allocations > self.fail_after
            over_budget = (
                self.budget_bytes is not None and self.live_bytes + nbytes > self.budget_bytes
            )
            if over_count or over_budget:
                self.failures += 1
                why = (
                    f"allocation #{self.allocations} fails by injection (fail_after={self.fail_after})"
                    if over_count
                    else f"test budget of {self.budget_bytes} bytes exceeded: {self.live_bytes} live + {nbytes} requested"
                )
                raise HyperionMemoryError(
                    f"cannot allocate {nbytes} bytes for shape {shape}: {why}",
                    requested_bytes=nbytes,
                )
            self.live_bytes += nbytes
        array = self.inner.allocate(shape, dtype)
        with self._lock:
            self._sizes[id(array)] = nbytes
        return array

    def free(self, array: npt.NDArray[np.generic]) -> None:
        with self._lock:
            self.live_bytes -= self._sizes.pop(id(array), 0)
        self.inner.free(array)


@contextmanager
def allocation_failures(
    budget_bytes: int | None = None, fail_after: int | None = None
) -> Iterator[FailingAllocator]:
    """Install a ``FailingAllocator`` over the current allocator; restore it on exit."""
    failing = FailingAllocator(_allocator.get_allocator(), budget_bytes, fail_after)
    previous = _allocator.set_allocator(failing)
    try:
        yield failing
    finally:
        _allocator.set_allocator(previous)
