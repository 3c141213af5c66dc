"""Files hyperion-otel writes are 0o640 or tighter and its directories are not
world-writable, whatever the umask: log file, lock, rotated and compressed backups,
local OTLP-JSON files and their rotated copies."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import hyperion_otel.sdk as sdk
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.logging import get_logger
from hyperion_otel.settings import Settings


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_every_file_is_0o640_or_tighter(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out" / "hyperion"
    tel = sdk.configure(
        Settings(
            output_dir=str(out),
            log_outputs=("file",),
            log_max_size_mb=0.002,  # rotate (and gzip) every ~2 KB
            log_max_files=4,
            telemetry_file_max_mb=0.002,
        )
    )
    for i in range(120):
        get_logger().warning("record %d %s", i, "p" * 80)
        with _telemetry.tracer().start_as_current_span("s" * 100):
            pass
        if i % 30 == 0:
            tel.force_flush(2)
    sdk.shutdown()
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir() if p.is_file()}
    assert {"hyperion.log", ".hyperion.log.lock", "traces.jsonl", "traces.jsonl.1"} <= set(files)
    assert any(n.endswith(".gz") for n in files), files  # compressed backups were made
    loose = {n: oct(m) for n, m in files.items() if m & ~0o640}
    assert loose == {}
    assert stat.S_IMODE(out.stat().st_mode) & 0o002 == 0  # the output directory


def test_local_telemetry_directory_is_not_world_writable(tmp_path: Path, umask: int) -> None:
    """With file logging off the OTLP-JSON exporter creates the directory itself."""
    out = tmp_path / "telemetry"
    sdk.configure(Settings(output_dir=str(out), log_outputs=()))
    with _telemetry.tracer().start_as_current_span("one"):
        pass
    sdk.shutdown()
    assert (out / "traces.jsonl").exists()
    assert stat.S_IMODE(out.stat().st_mode) & 0o022 == 0
    assert stat.S_IMODE((out / "traces.jsonl").stat().st_mode) & ~0o640 == 0
