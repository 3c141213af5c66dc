"""Log file handler: one ``write`` per record, size rotation, safe across threads and processes.

Mechanism (documented in the package doc too):

* Each record is formatted **once** into bytes (``formatter.format_bytes``) outside the
  handler lock; the handler then appends it with a single ``os.write`` on a descriptor
  opened ``O_APPEND``. On a local Linux file system one such write of a line is atomic
  with respect to other appenders, so lines of threads and processes never interleave.
* The size that decides rotation is the end-of-file offset that ``lseek`` reports after
  our own write (``O_APPEND`` leaves the offset at the end), so it counts what other
  processes wrote too, without formatting anything a second time.
* A file deleted while open (``fstat(fd).st_nlink == 0``) is reopened before a write.
  The ``fstat`` runs at most every ``unlink_check_interval_s`` (1 ms): before every
  record of a sparse writer, once a millisecond for a busy one (a system call on every
  record would cost a busy writer a share of its throughput for nothing). What this handler wrote to the deleted file is gone
  with it and counted as lost (fault ``deleted``), never silently; a rotation by
  another process (generation moved) is followed without counting.
* Processes coordinate through :class:`RotationLock` (``.<file name>.lock`` beside the
  file, empty, so no ``<file name>*`` glob of a log shipper matches it): shared around
  each write, exclusive around a rotation, plus a generation counter that tells a writer
  that someone else rotated and it must reopen. Threads of one process share the handler
  lock.
* A rotation renames the file to a timestamped backup, opens a fresh file and renames the
  backups beyond ``max_files`` to trash, all under the exclusive lock (renames only);
  compression and unlinking run on the :class:`Archiver` thread.
* Every ``check_interval_s`` the path is ``stat``-ed: a log file renamed or replaced
  behind our back (logrotate) is reopened. Write errors (disk full, directory gone,
  permission lost) are counted and warned about by ``record_fault``, never raised; while
  the file cannot be opened records are dropped and the open is retried each interval
  (each record counted once, as an ``open`` fault in the metric; no separate ``lock``
  fault when the lock file cannot be created for the same reason).
* A write cut short (disk full mid-line) leaves a partial line: the handler remembers
  it and starts its next write with a newline, so the next record is a line of its own
  (the cut one is counted lost). No truncation back to the last good offset: with
  ``O_APPEND`` other processes may have appended after the partial line already. A
  record another process appends right after it is glued to it: not preventable here.
* Files are created with mode 0o640 (the umask can only make that tighter).
"""

from __future__ import annotations

import logging as _stdlib_logging
import os
import stat
import threading
import time
from collections.abc import Callable

from hyperion_otel._seams.files import FILE_MODE
from hyperion_otel.logging._archive import ArchiveJob, Archiver
from hyperion_otel.logging._backups import backup_stems, new_backup_name, trash_name
from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._json import JsonFormatter
from hyperion_otel.logging._rotlock import HAVE_FLOCK, RotationLock, lock_path

__all__ = ["LogFileHandler"]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_NEWLINE = 0x0A
_monotonic = time.monotonic
_getpid = os.getpid
_fstat = os.fstat


class LogFileHandler(_stdlib_logging.Handler):
    """Appends formatted records to ``path``; rotates at ``max_bytes`` (0 = never)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = 0,
        max_files: int = 5,
        compress: bool = True,
        compress_level: int = 1,
        multiprocess: bool = True,
        check_interval_s: float = 1.0,
        unlink_check_interval_s: float = 0.001,
        max_pending_archives: int = 16,
        close_timeout_s: float = 2.0,
        formatter: _stdlib_logging.Formatter | None = None,
    ) -> None:
        super().__init__()
        self.path = os.path.abspath(os.fspath(path))
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.compress = compress
        self.compress_level = compress_level
        self.multiprocess = multiprocess and HAVE_FLOCK
        self.check_interval_s = check_interval_s
        self.unlink_check_interval_s = unlink_check_interval_s
        self.max_pending_archives = max_pending_archives
        self.close_timeout_s = close_timeout_s
        self._fd = -1
        self._ident = (0, 0)  # (st_ino, st_dev) of the open file
        self._regular = False
        self._size = 0
        self._written = 0  # records this handler wrote to the open file
        self._torn = False  # the open file ends with a partial line of ours
        self._gen = -1  # rotation generation the open file belongs to (-1: no lock)
        self._rlock: RotationLock | None = None
        self._archiver: Archiver | None = None
        # Rotation/pruning vs. the archiver's publish step, within this process (the flock
        # does it across processes, and is absent with multiprocess=False).
        self._rotation_mutex = threading.Lock()
        self._pid = _getpid()
        self._next_check = 0.0  # next stat of the path (renamed or replaced?)
        self._next_probe = 0.0  # next fstat of the descriptor (deleted?), or that stat
        self._closed = False
        self._encode: Callable[[_stdlib_logging.LogRecord], bytes] = self._encode_generic
        self.setFormatter(formatter or JsonFormatter())

    # --- configuration ------------------------------------------------------------------
    def setFormatter(self, fmt: _stdlib_logging.Formatter | None) -> None:  # noqa: N802
        super().setFormatter(fmt)
        fast = getattr(fmt, "format_bytes", None)
        self._encode = fast if callable(fast) else self._encode_generic

    def set_rotation(self, max_bytes: int, max_files: int, compress: bool) -> None:
        self.acquire()
        try:
            self.max_bytes, self.max_files, self.compress = max_bytes, max_files, compress
        finally:
            self.release()

    def _encode_generic(self, record: _stdlib_logging.LogRecord) -> bytes:
        return (self.format(record) + "\n").encode("utf-8", "backslashreplace")

    # --- the hot path -------------------------------------------------------------------
    def handle(self, record: _stdlib_logging.LogRecord) -> bool:
        if self.filters:
            rv: object = self.filter(record)
            if not rv:
                return False
            if isinstance(rv, _stdlib_logging.LogRecord):  # 3.12+: a filter may swap it
                record = rv
        self.emit(record)
        return True

    def emit(self, record: _stdlib_logging.LogRecord) -> None:
        try:
            data = self._encode(record)  # outside the lock: formatting is the costly part
        except Exception as exc:  # noqa: BLE001 - a record that cannot be formatted is dropped
            record_fault("format", exc, f"{record.pathname}:{record.lineno}")
            return
        self.acquire()
        try:
            self._write(data)
        finally:
            self.release()

    def handleError(self, record: _stdlib_logging.LogRecord) -> None:  # noqa: N802
        record_fault("write", None, self.path)

    def _write(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            if self._pid != _getpid():
                self._after_fork()
            if self._fd < 0 or _monotonic() >= self._next_probe:
                failure = self._probe()
                if failure is not None:
                    record_fault("open", failure, self.path, records_as="write")
                    return
            if (
                self.max_bytes > 0
                and self._regular
                and self._size > 0
                and self._size + len(data) > self.max_bytes
            ):
                self._rotate(len(data))
            lock = self._rlock
            if lock is not None:
                lock.shared()
                try:
                    if lock.generation() != self._gen:  # another process rotated
                        self._reopen(lock)
                    self._write_all(data)
                finally:
                    lock.release()
            else:
                self._write_all(data)
            self._written += 1
            if lock is not None:  # the end of file, including other processes' writes
                self._size = os.lseek(self._fd, 0, os.SEEK_CUR)
            elif self._regular:
                self._size += len(data)
        except Exception as exc:  # noqa: BLE001 - a log write must never raise into the app
            record_fault("write", exc, self.path)

    def _write_all(self, data: bytes) -> None:
        if self._torn:
            data = b"\n" + data  # end the partial line a cut write left, on its own
        n = os.write(self._fd, data)  # raises with nothing written, or writes n bytes
        if n < len(data) or self._torn:
            self._finish_write(data, n)

    def _finish_write(self, data: bytes, n: int) -> None:
        """Rare path: a short write (disk filling up), or the first write after one."""
        view = memoryview(data)
        try:
            while n < len(data):
                n += os.write(self._fd, view[n:])
        finally:
            if n > 0:  # the file now ends where our bytes end
                self._torn = data[n - 1] != _NEWLINE

    # --- opening and following the path -------------------------------------------------
    def _probe(self) -> OSError | None:
        """The cheap check (file deleted while open?), and the path check when it is due;
        the error if the file cannot be opened now."""
        now = _monotonic()
        self._next_probe = now + min(self.unlink_check_interval_s, self.check_interval_s)
        if self._fd >= 0 and now < self._next_check:
            try:
                if not self._regular or _fstat(self._fd).st_nlink > 0:
                    return None
            except OSError:
                pass
        return self._check_path()

    def _check_path(self) -> OSError | None:
        """Open the file if needed, reopen it if it was deleted or replaced; the error if
        it cannot be opened now (retried after ``check_interval_s``)."""
        self._next_check = _monotonic() + self.check_interval_s
        if self._fd >= 0:
            if not self._regular:
                return None
            try:
                st = os.stat(self.path)
                if (st.st_ino, st.st_dev) == self._ident:
                    return None
            except OSError:
                pass
        try:
            self._open()
        except OSError as exc:
            self._close_fd()
            return exc
        return None

    def _open(self) -> None:
        """Open (or reopen) the path, under the shared lock when processes coordinate."""
        lock_error: OSError | None = None
        if self.multiprocess and self._rlock is None and _is_regular_or_missing(self.path):
            try:
                self._rlock = RotationLock(lock_path(self.path))
            except OSError as exc:
                lock_error = exc  # reported below only if the log file itself opens
        lock = self._rlock
        if lock is None:
            self._reopen(None)
        else:
            lock.shared()
            try:
                self._reopen(lock)
            finally:
                lock.release()
            if not self._regular:  # a device or FIFO after all: nothing to rotate or lock
                lock.close()
                self._rlock = None
        if lock_error is not None:  # nothing lost: writes go on without the rotation lock
            record_fault(
                "lock",
                lock_error,
                f"{lock_path(self.path)}; writing without the rotation lock",
                lost=0,
            )

    def _reopen(self, lock: RotationLock | None) -> None:
        """Point ``self._fd`` at the current path; caller holds ``lock`` (any mode)."""
        self._count_deleted(lock)
        fd = os.open(self.path, _OPEN_FLAGS, FILE_MODE)
        st = os.fstat(fd)
        self._close_fd()
        ident = (st.st_ino, st.st_dev)
        # Our partial line is still at the end only if this is the same non-empty file.
        self._torn = self._torn and ident == self._ident and st.st_size > 0
        self._fd, self._ident = fd, ident
        self._regular = stat.S_ISREG(st.st_mode)
        self._size = st.st_size if self._regular else 0
        self._written = 0
        self._gen = lock.generation() if lock is not None else -1

    def _count_deleted(self, lock: RotationLock | None) -> None:
        """Count what we wrote to the open file as lost if it was deleted (a rotation by
        another process moves the generation: the backup, even compressed, has it)."""
        n = self._written
        if n == 0 or self._fd < 0 or not self._regular:
            return
        if lock is not None and lock.generation() != self._gen:
            return
        try:
            gone = _fstat(self._fd).st_nlink == 0
        except OSError:
            return
        if gone:
            self._written = 0
            why = f"{self.path} was deleted while open; the {n} records written to it are gone"
            record_fault("deleted", None, why, lost=n)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError as exc:
                record_fault("close", exc, self.path, lost=0)

    def _after_fork(self) -> None:
        # A child shares the parent's open file descriptions, and flock belongs to those:
        # reopen everything so the child's lock really excludes the parent. The parent's
        # archiver thread does not exist here; its state is abandoned, not touched.
        self._pid = _getpid()
        self._archiver = None
        self._rotation_mutex = threading.Lock()  # the parent's may have been held at fork
        if self._rlock is not None:
            self._rlock.close()
            self._rlock = None
        self._close_fd()
        self._open()
        self._next_check = _monotonic() + self.check_interval_s

    # --- rotation -----------------------------------------------------------------------
    def _rotate(self, incoming: int) -> None:
        lock = self._rlock
        job = ArchiveJob()
        with self._rotation_mutex:
            if lock is not None:
                lock.exclusive()
            try:
                self._rotate_locked(lock, incoming, job)
            finally:
                if lock is not None:
                    lock.release()
        if job.compress or job.delete:
            self._submit(job)

    def _rotate_locked(self, lock: RotationLock | None, incoming: int, job: ArchiveJob) -> None:
        """Rename the full file away and open a fresh one, unless another process (or
        someone else) already did; fills ``job`` with what the archiver must do."""
        if lock is not None and lock.generation() != self._gen:
            self._reopen(lock)  # another process rotated first: follow it
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._reopen(lock)
            return
        if (st.st_ino, st.st_dev) != self._ident:
            self._reopen(lock)  # replaced behind our back: write to the new file
            return
        if st.st_size == 0 or st.st_size + incoming <= self.max_bytes:
            self._size = st.st_size
            return
        backup = new_backup_name(self.path)
        try:
            # Bump first: a rename that others do not learn of would let them append to
            # the backup; a bump without a rename only makes them reopen the same file.
            if lock is not None:
                lock.bump()
            os.rename(self.path, backup)
        except OSError as exc:  # keep writing to the current file
            record_fault("rotate", exc, self.path, lost=0)
            return
        # If this reopen fails, the next write sees the new generation and retries.
        self._reopen(lock)
        pruned = self._prune(job)
        if self.compress and backup not in pruned:
            job.compress = backup

    def _prune(self, job: ArchiveJob) -> set[str]:
        """Rename backups beyond ``max_files - 1`` to trash (unlinked by the archiver);
        returns the pruned stems. Caller holds the exclusive lock."""
        stems = backup_stems(self.path)
        victims = stems[: max(0, len(stems) - (self.max_files - 1))]
        for _stem, files in victims:
            for f in files:
                trash = trash_name(f)
                try:
                    os.rename(f, trash)
                    job.delete.append(trash)
                except FileNotFoundError:
                    pass  # pruned by another process meanwhile
                except OSError as exc:
                    record_fault("delete", exc, f, lost=0)
        return {stem for stem, _files in victims}

    def _submit(self, job: ArchiveJob) -> None:
        if self._archiver is None:
            lock_path = self._rlock.path if self._rlock is not None else None
            self._archiver = Archiver(
                self.path,
                lock_path,
                self._rotation_mutex,
                self.compress_level,
                self.max_pending_archives,
            )
        if not self._archiver.submit(job):  # full: the archiver sweeps later; delete here
            for path in job.delete:
                try:
                    os.unlink(path)
                except OSError as exc:
                    record_fault("delete", exc, path, lost=0)

    # --- lifecycle ----------------------------------------------------------------------
    def flush(self) -> None:
        """Nothing is buffered: every record is in the kernel once ``handle`` returns."""

    def wait_archived(self, timeout: float = 10.0) -> bool:
        """Block until background compression/deletion is done (tests, shutdown)."""
        archiver = self._archiver
        return archiver.wait_idle(timeout) if archiver is not None else True

    def close(self) -> None:
        self.acquire()
        try:
            if self._closed:
                return
            self._closed = True
            archiver, self._archiver = self._archiver, None
            self._close_fd()
            if self._rlock is not None:
                self._rlock.close()
                self._rlock = None
        finally:
            self.release()
        if archiver is not None and self._pid == _getpid():
            archiver.close(self.close_timeout_s)
        super().close()


def _is_regular_or_missing(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False
