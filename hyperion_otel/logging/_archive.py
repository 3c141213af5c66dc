"""Background worker that gzips rotated log files and deletes pruned ones.

The logging thread only renames files (microseconds) and hands the slow parts here:
compressing a rotated file, and unlinking files pruned to keep ``max_files`` (unlinking a
large file can take milliseconds). Compression streams the file in chunks into
``<backup>.gz.tmp.<pid>``; zlib and file I/O release the GIL, so the logging thread keeps
running. The final step holds the rotation lock exclusive for two renames: the ``.gz``
appears atomically and the plain file leaves, unless a pruner took the plain file away
meanwhile (then the temporary file is dropped, so the ``max_files`` bound holds).

The queue of jobs is bounded (``max_pending``). When it is full (rotations faster than
compression) the job is not queued; instead the worker, once its queue is empty, sweeps
the directory and compresses every rotated file still plain, so nothing stays
uncompressed for long and memory stays bounded. Two workers (two processes) may pick the
same file in a sweep: the loser's publish step finds its input gone and drops its copy.
``close(timeout)`` lets the worker finish within the timeout, then aborts it between
chunks; what is left stays uncompressed (still a valid backup). The thread is a daemon so that a stuck disk cannot hang interpreter exit.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import os
import threading
import time
from dataclasses import dataclass, field

from hyperion_otel.logging._backups import backup_stems, trash_name
from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._rotlock import RotationLock

__all__ = ["Archiver", "ArchiveJob"]

_CHUNK = 256 * 1024


@dataclass
class ArchiveJob:
    compress: str | None = None  # rotated file to gzip
    delete: list[str] = field(default_factory=list)  # files to unlink
    sweep: bool = False  # compress every rotated file still plain


class _AbortedError(Exception):
    pass


class Archiver:
    """One worker thread per file handler, started on the first job."""

    def __init__(
        self,
        log_path: str,
        lock_path: str | None,
        mutex: threading.Lock,
        compress_level: int = 1,
        max_pending: int = 16,
    ) -> None:
        self._log_path = log_path
        self._lock_path = lock_path
        self._mutex = mutex  # the handler's: excludes its rotation/pruning in this process
        self._level = compress_level
        self._max_pending = max_pending
        self._jobs: collections.deque[ArchiveJob] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._sweep = False
        self.busy = False

    def submit(self, job: ArchiveJob) -> bool:
        """Queue ``job``; never blocks. ``False`` when the queue is full or closed: the
        caller then deletes ``job.delete`` itself, and a full queue schedules a sweep."""
        with self._cond:
            if self._closing:
                return False
            queued = len(self._jobs) < self._max_pending
            if queued:
                self._jobs.append(job)
            elif job.compress is not None:
                self._sweep = True
            if self._thread is None and (queued or self._sweep):
                self._thread = threading.Thread(
                    target=self._run, name="hyperion-log-archiver", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return queued

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + (1 if self.busy or self._sweep else 0)

    def close(self, timeout: float = 5.0) -> None:
        """Finish queued jobs within ``timeout`` seconds, then abort; joins the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()
                thread.join(1.0)
        with self._cond:
            left = list(self._jobs)
            self._jobs.clear()
        for job in left:  # backups stay uncompressed; pruned files must still go
            _unlink_all(job.delete)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._sweep and not self._closing:
                    self._cond.wait()
                if self._abort.is_set() or not (self._jobs or self._sweep):
                    return
                if self._jobs:
                    job = self._jobs.popleft()
                else:
                    job, self._sweep = ArchiveJob(sweep=True), False
                self.busy = True
            try:
                _unlink_all(job.delete)
                if job.compress is not None:
                    self._compress(job.compress)
                if job.sweep:
                    for stem, files in backup_stems(self._log_path):
                        if files == [stem]:  # still plain
                            self._compress(stem)
            except _AbortedError:
                return
            except Exception as exc:  # noqa: BLE001 - the worker must survive any one job
                record_fault("compress", exc, job.compress or "")
            finally:
                with self._cond:
                    self.busy = False

    def _compress(self, src: str) -> None:
        try:
            fd = os.open(src, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return  # pruned before we got to it
        tmp = f"{src}.gz.tmp.{os.getpid()}"
        try:
            st = os.fstat(fd)
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(out, "wb") as raw:
                os.fchmod(out, st.st_mode & 0o777)  # same permissions as the log file
                with gzip.GzipFile(
                    filename=os.path.basename(src),
                    mode="wb",
                    fileobj=raw,
                    compresslevel=self._level,
                    mtime=int(st.st_mtime),
                ) as gz:
                    while chunk := os.read(fd, _CHUNK):
                        if self._abort.is_set():
                            raise _AbortedError
                        gz.write(chunk)
                raw.flush()
                os.fsync(out)  # a crash must not leave an empty .gz in place of the log
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        self._publish(src, tmp, (st.st_ino, st.st_dev))

    def _publish(self, src: str, tmp: str, ident: tuple[int, int]) -> None:
        lock = RotationLock(self._lock_path) if self._lock_path else None
        trash: str | None = None
        self._mutex.acquire()
        try:
            if lock is not None:
                lock.exclusive()
            try:
                st = os.stat(src)
                still_ours = (st.st_ino, st.st_dev) == ident
            except FileNotFoundError:
                still_ours = False
            if still_ours:
                os.rename(tmp, src + ".gz")
                trash = trash_name(src)
                os.rename(src, trash)
            else:  # pruned meanwhile: publishing would exceed max_files
                os.unlink(tmp)
        finally:
            if lock is not None:
                lock.close()  # closing the descriptor releases the flock
            self._mutex.release()
        if trash is not None:
            _unlink_all([trash])

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is queued or running (tests, ``force_flush``)."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


def _unlink_all(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
        except OSError as exc:
            record_fault("delete", exc, p)
