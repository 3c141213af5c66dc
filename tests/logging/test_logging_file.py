"""The rotating, compressing file handler: counts, bounds, faults, threads, processes."""

from __future__ import annotations

import gzip
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from logging_helpers import log_files, read_lines, read_records, stray_files

from hyperion_otel.logging import JsonFormatter, LogFileHandler, fault_counts
from hyperion_otel.logging._rotlock import lock_path

REPO = str(pathlib.Path(__file__).resolve().parents[2])


def archiver_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hyperion-log-archiver"]


def test_records_are_json_lines_in_a_0o640_file(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    old_umask = os.umask(0)  # even with no umask at all the file is not group-writable
    try:
        lg = attach(LogFileHandler(path))
        lg.info("one %d", 1)
        lg.warning("two", extra={"k": "v"})
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.stat(lock_path(path)).st_mode & 0o777 == 0o640
    recs = read_records(path)
    assert [r["message"] for r in recs] == ["one 1", "two"]
    assert recs[1]["attributes"] == {"k": "v"}


class CountingFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def format_bytes(self, record: logging.LogRecord) -> bytes:
        self.calls += 1
        return super().format_bytes(record)

    def format(self, record: logging.LogRecord) -> str:
        self.calls += 1
        return super().format(record)


def test_each_record_is_formatted_once_even_across_rotations(
    tmp_path: pathlib.Path, attach: Any
) -> None:
    fmt = CountingFormatter()
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=2000, max_files=100, formatter=fmt)
    lg = attach(handler)
    for i in range(300):
        lg.info("record %d %s", i, "x" * 50)
    assert handler.wait_archived(10)
    assert fmt.calls == 300
    assert len(log_files(path)) > 10  # it did rotate, many times
    assert sorted(int(r["message"].split()[1]) for r in read_records(path)) == list(range(300))


def test_rotation_compresses_in_background_and_keeps_max_files(
    tmp_path: pathlib.Path, attach: Any
) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=4096, max_files=3, compress=True)
    lg = attach(handler)
    for i in range(400):
        lg.info("record %05d %s", i, "y" * 100)
    assert handler.wait_archived(10)
    files = log_files(path)
    assert len(files) == 3
    assert [f.endswith(".gz") for f in files] == [False, True, True]  # live file sorts first
    for f in files:
        if f.endswith(".gz"):
            with gzip.open(f) as fh:
                assert all(json.loads(line) for line in fh.read().splitlines())
        assert os.path.getsize(f) <= 4096 + 300
    seqs = [int(r["message"].split()[1]) for r in read_records(path)]
    assert sorted(seqs) == list(range(400 - len(seqs), 400))  # newest kept, no gap
    assert stray_files(path) == []


def test_rotation_without_compression(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=2048, max_files=4, compress=False)
    lg = attach(handler)
    for i in range(200):
        lg.info("r%d %s", i, "z" * 60)
    assert handler.wait_archived(10)
    files = log_files(path)
    assert len(files) == 4 and not any(f.endswith(".gz") for f in files)


def test_max_files_one_keeps_only_the_live_file(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=1024, max_files=1)
    lg = attach(handler)
    for i in range(100):
        lg.info("r%d %s", i, "z" * 60)
    assert handler.wait_archived(10)
    assert log_files(path) == [path]
    assert stray_files(path) == []


def test_full_archive_queue_falls_back_to_a_sweep(tmp_path: pathlib.Path, attach: Any) -> None:
    """Rotations faster than compression: no job is queued, yet every backup ends compressed."""
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=1024, max_files=50, max_pending_archives=0)
    lg = attach(handler)
    for i in range(50):
        lg.info("r%d %s", i, "z" * 60)
    assert handler.wait_archived(10)
    files = log_files(path)
    assert len(files) > 3 and all(f.endswith(".gz") for f in files[1:])
    assert len(read_records(path)) == 50
    assert stray_files(path) == []


def test_close_stops_the_archiver_thread(tmp_path: pathlib.Path) -> None:
    before = archiver_threads()
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=1024, max_files=10)
    lg = logging.getLogger("filetest.close")
    lg.addHandler(handler)
    lg.propagate = False
    try:
        for i in range(60):
            lg.warning("r%d %s", i, "z" * 60)
        assert len(archiver_threads()) == len(before) + 1
    finally:
        lg.removeHandler(handler)
        lg.propagate = True
        handler.close()
    assert archiver_threads() == before
    handler.close()  # idempotent
    lg.warning("after close: dropped silently")


def _write_threads(lg: logging.Logger, n_threads: int, per_thread: int) -> None:
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            lg.info("payload %s", "p" * 80, extra={"t": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def test_four_threads_rotating_tiny_file_lose_and_tear_nothing(
    tmp_path: pathlib.Path, attach: Any
) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=8 * 1024, max_files=200, compress=True)
    lg = attach(handler)
    _write_threads(lg, 4, 500)
    assert handler.wait_archived(20)
    files = log_files(path)
    assert 20 < len(files) <= 200
    recs = read_records(path)  # every line parses: nothing torn or interleaved
    keys = [(r["attributes"]["t"], r["attributes"]["i"]) for r in recs]
    assert len(keys) == 2000 and set(keys) == {(t, i) for t in range(4) for i in range(500)}
    assert stray_files(path) == []


@pytest.mark.parametrize("multiprocess", [True, False])
def test_four_threads_with_pruning_respect_max_files(
    tmp_path: pathlib.Path, attach: Any, multiprocess: bool
) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(
        path, max_bytes=8 * 1024, max_files=3, compress=True, multiprocess=multiprocess
    )
    lg = attach(handler)
    _write_threads(lg, 4, 500)
    assert handler.wait_archived(20)
    assert len(log_files(path)) <= 3
    by_thread: dict[int, list[int]] = {}
    for r in read_records(path):
        by_thread.setdefault(r["attributes"]["t"], []).append(r["attributes"]["i"])
    for seqs in by_thread.values():  # what is kept is each thread's newest records, no gap
        assert sorted(seqs) == list(range(500 - len(seqs), 500))
    assert stray_files(path) == []
    assert fault_counts() == {}


_WORKER = r"""
import logging, os, sys, time
sys.path.insert(0, {repo!r})
from hyperion_otel.logging import LogFileHandler
h = LogFileHandler({path!r}, max_bytes={max_bytes}, max_files={max_files}, compress=True)
lg = logging.getLogger("worker")
lg.addHandler(h); lg.setLevel(logging.INFO); lg.propagate = False
deadline = time.monotonic() + 30
while not os.path.exists({go!r}) and time.monotonic() < deadline:
    time.sleep(0.002)
for i in range({n}):
    lg.info("payload %s", "q" * 120, extra={{"w": {w}, "i": i}})
h.close()
"""


def _run_processes(
    tmp_path: pathlib.Path, n_procs: int, n: int, max_bytes: int, max_files: int
) -> str:
    path = str(tmp_path / "shared.log")
    go = str(tmp_path / "go")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER.format(
                    repo=REPO, path=path, max_bytes=max_bytes, max_files=max_files, go=go, n=n, w=w
                ),
            ]
        )
        for w in range(n_procs)
    ]
    time.sleep(0.3)  # let both import; the go-file starts them together
    pathlib.Path(go).touch()
    for p in procs:
        assert p.wait(60) == 0
    return path


def test_two_processes_rotating_one_file_lose_and_tear_nothing(tmp_path: pathlib.Path) -> None:
    # Sized so that writing without the rotation lock loses records here (checked by hand).
    path = _run_processes(tmp_path, 2, 3000, max_bytes=16 * 1024, max_files=1000)
    files = log_files(path)
    assert len(files) > 50
    recs = read_records(path)  # every .gz decompresses, every line parses
    keys = [(r["attributes"]["w"], r["attributes"]["i"]) for r in recs]
    assert len(keys) == 6000
    assert set(keys) == {(w, i) for w in range(2) for i in range(3000)}
    assert stray_files(path) == []
    # The lock coordinated every one of those rotations and still holds no byte a log
    # shipper could read, under a name that `shared.log*` does not match.
    lock = pathlib.Path(lock_path(path))
    assert lock.parent == tmp_path and lock.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.glob("shared.log*")) == sorted(
        os.path.basename(f) for f in files
    )


def test_two_processes_with_pruning_respect_max_files(tmp_path: pathlib.Path) -> None:
    path = _run_processes(tmp_path, 2, 1500, max_bytes=16 * 1024, max_files=4)
    assert len(log_files(path)) <= 4
    by_proc: dict[int, list[int]] = {}
    for r in read_records(path):
        by_proc.setdefault(r["attributes"]["w"], []).append(r["attributes"]["i"])
    for seqs in by_proc.values():
        assert len(seqs) == len(set(seqs))
        assert max(seqs) == 1499  # the newest records survive pruning
    assert stray_files(path) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_shares_the_file_safely(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    handler = LogFileHandler(path, max_bytes=4096, max_files=1000, compress=False)
    lg = attach(handler)
    lg.info("before fork", extra={"w": 9, "i": 0})
    pid = os.fork()
    if pid == 0:  # child: write, then leave without running the parent's cleanups
        try:
            for i in range(300):
                lg.info("payload %s", "c" * 60, extra={"w": 1, "i": i})
        finally:
            os._exit(0)
    for i in range(300):
        lg.info("payload %s", "p" * 60, extra={"w": 0, "i": i})
    _, status = os.waitpid(pid, 0)
    assert status == 0
    keys = {(r["attributes"]["w"], r["attributes"]["i"]) for r in read_records(path)}
    assert len(read_lines(path)) == 601
    assert keys == {(9, 0)} | {(w, i) for w in range(2) for i in range(300)}


def test_deleted_log_file_is_recreated(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    lg = attach(LogFileHandler(path, check_interval_s=0.0))
    lg.info("first")
    os.unlink(path)
    lg.info("second")
    assert [r["message"] for r in read_records(path)] == ["second"]


def test_externally_rotated_file_is_followed(tmp_path: pathlib.Path, attach: Any) -> None:
    path = str(tmp_path / "app.log")
    lg = attach(LogFileHandler(path, check_interval_s=0.0))
    lg.info("first")
    os.rename(path, path + ".old")  # what logrotate does
    lg.info("second")
    assert [r["message"] for r in read_records(path)] == ["second"]


def test_deleted_directory_counts_faults_and_recovers(
    tmp_path: pathlib.Path, attach: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    path = str(logdir / "app.log")
    lg = attach(LogFileHandler(path, check_interval_s=0.0))
    lg.info("first")
    shutil.rmtree(logdir)
    for _ in range(5):
        lg.info("lost")  # must not raise
    faults = fault_counts()
    assert faults.get("open", 0) >= 1 and faults.get("write", 0) >= 5
    assert (
        capsys.readouterr().err.count("hyperion-otel logging: the log file could not be opened")
        == 1
    )  # once
    logdir.mkdir()
    lg.info("back")
    assert [r["message"] for r in read_records(path)] == ["back"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_is_counted_not_raised(attach: Any, capsys: pytest.CaptureFixture[str]) -> None:
    mode = os.stat("/dev/full").st_mode
    lg = attach(LogFileHandler("/dev/full", max_bytes=1024))
    for _ in range(10):
        lg.error("no space")  # ENOSPC on every write
    assert fault_counts().get("write", 0) == 10
    err = capsys.readouterr().err
    assert (
        err.count("could not be written to the log file") == 1 and "No space left on device" in err
    )
    assert os.stat("/dev/full").st_mode == mode  # a device is never chmod-ed
    assert not os.path.exists(lock_path("/dev/full"))  # nor given a lock file


def test_unwritable_path_never_raises(tmp_path: pathlib.Path, attach: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    lg = attach(LogFileHandler(str(blocker / "app.log")))  # parent is a file: ENOTDIR
    lg.info("dropped")
    assert fault_counts().get("write", 0) == 1


def test_interpreter_exit_without_shutdown_finishes_cleanly(tmp_path: pathlib.Path) -> None:
    """logging's own exit hook closes the handler: compression finishes, nothing half-written."""
    path = str(tmp_path / "exit.log")
    code = (
        f"import sys; sys.path.insert(0, {REPO!r})\n"
        "import hyperion_otel.logging as hl\n"
        f"hl.apply_logging_settings(outputs='file', file={path!r}, max_size_mb=0.01, max_files=50)\n"
        "for i in range(500): hl.get_logger().info('record %d %s', i, 'e' * 100)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    files = log_files(path)
    assert len(files) > 3 and all(f.endswith(".gz") for f in files[1:])
    assert len(read_records(path)) == 500
    assert stray_files(path) == []
