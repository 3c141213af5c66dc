"""Fault injection for driving error paths: file-system faults and allocation failures.

Each injector is a context manager that undoes itself on exit, and only affects what it
names (files under one directory, or the current allocator), so the test runner itself
keeps working.
"""

from __future__ import annotations

import errno
import os
import threading
from types import TracebackType
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import HyperionMemoryError, public
from hyperion_otel.testing._checks import bad, check_choice, check_count, check_path

__all__ = ["IO_FAULTS", "FailingAllocator", "IOFault", "allocation_failures", "io_fault"]

IOFault = Literal["disk_full", "permission_denied", "read_only"]
IO_FAULTS: tuple[str, ...] = get_args(IOFault)

_ERRNO = {"disk_full": errno.ENOSPC, "permission_denied": errno.EACCES, "read_only": errno.EROFS}
_patch_lock = threading.Lock()


def _under(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


@public
class io_fault:  # noqa: N801 - used like a function: ``with io_fault("disk_full", d):``
    """Make file writes under ``directory`` fail with ENOSPC, EACCES or EROFS.

    ``disk_full`` fails ``os.write`` on files there (opening still works, as on a full
    disk); ``permission_denied`` and ``read_only`` fail ``os.open`` for writing there.
    Code that writes through ``os.open``/``os.write`` (hyperion-otel's log files and
    local telemetry files do) sees the fault. Entering gives a dict counting injected
    faults; leaving puts ``os.open`` and ``os.write`` back. Arguments are checked here,
    when the injector is built.
    """

    def __init__(self, kind: IOFault, directory: str | os.PathLike[str]) -> None:
        check_choice(kind, "kind", IO_FAULTS, optional=False)
        check_path(directory, "directory")
        self.kind: IOFault = kind
        self.root = os.path.realpath(os.fspath(directory))
        self.counts = {"faults": 0}
        self._real: tuple[Any, Any] | None = None

    def __enter__(self) -> dict[str, int]:
        if self._real is not None:
            raise bad("io_fault", "an injector entered once at a time", self)
        kind, root, code, counts = self.kind, self.root, _ERRNO[self.kind], self.counts
        real_open, real_write = os.open, os.write

        def fake_open(
            path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None
        ) -> int:
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
            self._real = (real_open, real_write)
            os.open, os.write = fake_open, fake_write
        return counts

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        with _patch_lock:
            if self._real is not None:
                os.open, os.write = self._real
                self._real = None


@public
class FailingAllocator:
    """Wraps an allocator: fails allocations past a byte budget or after N allocations."""

    def __init__(
        self,
        inner: _allocator.Allocator,
        budget_bytes: int | None = None,
        fail_after: int | None = None,
    ) -> None:
        if not (
            callable(getattr(inner, "allocate", None)) and callable(getattr(inner, "free", None))
        ):
            raise bad("inner", "an allocator (with allocate and free methods)", inner)
        check_count(budget_bytes, "budget_bytes", optional=True)
        check_count(fail_after, "fail_after", optional=True)
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
        dims = (shape,) if isinstance(shape, int) else shape
        if not isinstance(dims, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims
        ):
            raise bad("shape", "an int >= 0 or a tuple of them", shape)
        try:
            itemsize = np.dtype(dtype).itemsize
        except TypeError as exc:
            raise bad("dtype", "a numpy dtype", dtype) from exc
        nbytes = int(np.prod(dims)) * itemsize
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


@public
class allocation_failures:  # noqa: N801 - used like a function: ``with allocation_failures(n):``
    """Install a ``FailingAllocator`` over the current allocator on entry (and give it);
    restore the allocator from before on exit. Arguments are checked when it is built."""

    def __init__(self, budget_bytes: int | None = None, fail_after: int | None = None) -> None:
        check_count(budget_bytes, "budget_bytes", optional=True)
        check_count(fail_after, "fail_after", optional=True)
        self.budget_bytes = budget_bytes
        self.fail_after = fail_after
        self._previous: _allocator.Allocator | None = None

    def __enter__(self) -> FailingAllocator:
        if self._previous is not None:
            raise bad("allocation_failures", "an injector entered once at a time", self)
        failing = FailingAllocator(_allocator.get_allocator(), self.budget_bytes, self.fail_after)
        self._previous = _allocator.set_allocator(failing)
        return failing

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        previous, self._previous = self._previous, None
        if previous is not None:
            _allocator.set_allocator(previous)
