"""Log file faults: a full disk, a read-only directory, the file deleted while open, and
rotation at a tiny size under 4 threads x 2 processes with a fault in one process.

What must hold each time: the application goes on (no exception reaches it), every
record is either in the files or counted as lost (``fault_counts``), and one warning
per kind of fault. The rotating handler's normal behaviour (rotation, compression,
pruning, threads, processes without faults) is tested in ``tests/logging``.

A real tmpfs of 64 KiB is used for the full disk and the read-only directory when this
process may mount one (root); otherwise the same fault is injected with
``hyperion_otel.testing.io_fault``.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hyperion_otel import semconv
from hyperion_otel.logging import LogFileHandler, _faults, fault_counts
from hyperion_otel.testing import create_test_context, io_fault

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_faults() -> Iterator[None]:
    _faults.reset_faults()
    old = _faults.set_warn_interval(60.0)
    yield
    _faults.set_warn_interval(old)
    _faults.reset_faults()


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextmanager
def tiny_tmpfs(directory: Path, size: str = "64k") -> Iterator[bool]:
    """Mount a tmpfs of ``size`` on ``directory``; yields False (nothing mounted) when
    this process may not mount."""
    directory.mkdir(exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], check=False)


def _parse(path: str) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Records of every file of the log at ``path`` (rotated and .gz too), and the lines
    that are not valid JSON."""
    directory, base = os.path.split(path)
    good, bad = [], []
    for name in sorted(os.listdir(directory)):
        if not name.startswith(base) or name.endswith(".lock"):
            continue
        f = os.path.join(directory, name)
        data = (
            gzip.decompress(Path(f).read_bytes()) if name.endswith(".gz") else Path(f).read_bytes()
        )
        for line in data.splitlines():
            try:
                good.append(json.loads(line))
            except ValueError:
                bad.append(line)
    return good, bad


def _seqs(records: list[dict[str, Any]]) -> list[int]:
    return sorted(int(r["message"].split()[1]) for r in records)


# --- disk full -------------------------------------------------------------------------------
def test_disk_full_the_app_goes_on_and_every_record_is_written_or_counted(
    tmp_path: Path, attach: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 1000
    disk = tmp_path / "disk"
    with tiny_tmpfs(disk) as real:
        path = str(disk / "app.log")
        lg = attach(LogFileHandler(path, check_interval_s=0.0))
        for i in range(300):
            lg.info("record %05d %s", i, "x" * 150)
        # A real 64 KiB disk fills by itself; otherwise inject ENOSPC from here on.
        with io_fault("disk_full", disk) if not real else _nothing():
            for i in range(300, n):
                lg.info("record %05d %s", i, "x" * 150)  # must not raise
        good, bad = _parse(path)
    lost = fault_counts().get("write", 0)
    assert lost > 0
    assert len(good) + lost == n  # everything not written is counted, exactly
    assert _seqs(good) == list(range(len(good)))  # what was written is the head, in order
    # At most the one record cut by the short write that hit the end of the disk.
    assert len(bad) <= 1
    err = capsys.readouterr().err
    assert (
        err.count("could not be written to the log file") == 1 and "No space left on device" in err
    )


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _short_write_then_enospc(path: str) -> Iterator[None]:
    """Stand-in for a disk that fills in the middle of a record (what a tmpfs does):
    the first write to ``path`` is cut short, every later one fails with ENOSPC."""
    real_write = os.write
    state = {"cut": False}

    def write(fd: int, data: Any) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target != path:
            return real_write(fd, data)
        if not state["cut"]:
            state["cut"] = True
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.write = write
    try:
        yield
    finally:
        os.write = real_write


def test_after_disk_full_the_next_record_is_not_lost(tmp_path: Path, attach: Any) -> None:
    disk = tmp_path / "disk"
    with tiny_tmpfs(disk, "64k") as real:
        path = str(disk / "app.log")
        lg = attach(LogFileHandler(path, check_interval_s=0.0))
        filler = disk / "filler"
        if real:
            filler.write_bytes(b"\0" * 48 * 1024)
        with _nothing() if real else _short_write_then_enospc(path):
            i = 0
            while not fault_counts().get("write"):
                lg.info("record %05d %s", i, "y" * 150)
                i += 1
            lg.info("record %05d %s", i, "y" * 150)
            i += 1
        filler.unlink(missing_ok=True)  # space comes back
        for _ in range(20):
            lg.info("record %05d %s", i, "y" * 150)
            i += 1
        good, _bad = _parse(path)
    assert len(good) + fault_counts()["write"] == i
    assert _seqs(good)[-20:] == list(range(i - 20, i))


# --- read-only directory ---------------------------------------------------------------------
@contextmanager
def read_only(directory: Path) -> Iterator[str]:
    """``directory`` (a fresh tmpfs when possible) made read-only; yields how."""
    with tiny_tmpfs(directory) as real:
        if real and _mount("-o", "remount,ro", str(directory)):
            try:
                yield "remount,ro"
            finally:
                _mount("-o", "remount,rw", str(directory))
            return
        with io_fault("read_only", directory):
            yield "io_fault"


def test_read_only_directory_the_app_goes_on_and_logging_resumes(
    tmp_path: Path, attach: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    path = str(logs / "app.log")
    with read_only(logs):
        lg = attach(LogFileHandler(path, check_interval_s=0.0))
        for i in range(10):
            lg.info("record %05d", i)  # must not raise
        assert not os.path.exists(path)
    for i in range(10, 15):
        lg.info("record %05d", i)
    good, bad = _parse(path)
    assert _seqs(good) == list(range(10, 15)) and not bad
    assert fault_counts()["write"] == 10  # each lost record counted as a write fault
    err = capsys.readouterr().err
    assert (
        err.count("counted as a write fault") == 1
        and err.count("the log file could not be opened") == 1
    )


def test_read_only_directory_each_lost_record_counted_once_in_the_metric(
    tmp_path: Path, attach: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    with create_test_context() as ctx, read_only(logs):
        lg = attach(LogFileHandler(str(logs / "app.log"), check_interval_s=0.0))
        for i in range(10):
            lg.info("record %05d", i)
        dropped = ctx.metric_total(semconv.METRIC_TELEMETRY_DROPPED, hyperion__signal="logs")
    assert dropped == 10
    assert capsys.readouterr().err.count("hyperion-otel logging:") == 1  # one clear warning


# --- file deleted while open -----------------------------------------------------------------
def _log_for(lg: logging.Logger, seconds: float, start: int) -> int:
    i, t0 = start, time.monotonic()
    while time.monotonic() - t0 < seconds:
        lg.info("record %05d", i)
        i += 1
        time.sleep(0.005)
    return i


def test_log_file_deleted_while_open_is_recreated_within_the_check_interval(
    tmp_path: Path, attach: Any
) -> None:
    path = str(tmp_path / "app.log")
    lg = attach(LogFileHandler(path, check_interval_s=0.2))
    lg.info("record %05d", 0)
    os.unlink(path)
    t0 = time.monotonic()
    end = _log_for(lg, 0.6, 1)  # must not raise
    good, bad = _parse(path)
    assert not bad and good
    seqs = _seqs(good)
    # The tail is all there and in order; what went to the deleted file is the window.
    assert seqs == list(range(seqs[0], end))
    assert time.monotonic() - t0 >= 0.2


def test_log_file_deleted_while_open_loses_nothing_silently(tmp_path: Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    lg = attach(LogFileHandler(path, check_interval_s=0.2))
    lg.info("record %05d", 0)
    os.unlink(path)
    end = _log_for(lg, 0.6, 1)
    good, _bad = _parse(path)
    assert len(good) + sum(fault_counts().values()) == end


# --- rotation under 4 threads x 2 processes at a tiny size, with a fault in one --------------
_WORKER = r"""
import json, logging, os, sys, threading, time
sys.path.insert(0, {repo!r})
from hyperion_otel.logging import LogFileHandler, fault_counts
from hyperion_otel.testing import io_fault
h = LogFileHandler({path!r}, max_bytes=4096, max_files=100000, compress=True)
lg = logging.getLogger("worker")
lg.addHandler(h); lg.setLevel(logging.INFO); lg.propagate = False
deadline = time.monotonic() + 30
while not os.path.exists({go!r}) and time.monotonic() < deadline:
    time.sleep(0.002)
quarter = threading.Event()
def work(t):
    for i in range({n}):
        if i == {n} // 4:
            quarter.set()
        lg.info("payload %s", "w" * 60, extra={{"w": {w}, "t": t, "i": i}})
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for th in threads: th.start()
if {w} == 1:  # ENOSPC on every log write of this process for 50 ms, mid-run
    quarter.wait(30)
    with io_fault("disk_full", {directory!r}):
        time.sleep(0.05)
for th in threads: th.join()
h.wait_archived(20)
h.close()
print(json.dumps(fault_counts()))
"""


def test_rotation_4_threads_x_2_processes_tiny_size_fault_in_one(tmp_path: Path) -> None:
    n = 400
    path = str(tmp_path / "shared.log")
    go = str(tmp_path / "go")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER.format(repo=str(REPO), path=path, go=go, n=n, w=w, directory=str(tmp_path)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    time.sleep(0.3)
    Path(go).touch()
    faults = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        faults.append(json.loads(out.strip().splitlines()[-1]))
    good, bad = _parse(path)
    assert not bad  # rotation by two processes at 4 KiB tears no line
    keys = [(r["attributes"]["w"], r["attributes"]["t"], r["attributes"]["i"]) for r in good]
    assert len(keys) == len(set(keys))
    lost = [f.get("write", 0) for f in faults]
    assert lost[0] == 0 and lost[1] > 0  # only the faulty process lost records
    assert sum(1 for k in keys if k[0] == 0) == 4 * n
    # The faulty process: every record is either on disk or counted, exactly.
    assert sum(1 for k in keys if k[0] == 1) + lost[1] == 4 * n
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".gz")]) > 5  # it did rotate
