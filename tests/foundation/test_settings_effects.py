"""Settings that had no test failing if ``configure()`` ignored them: each one here is set
through ``configure()`` (as a user does, or through its environment variable) and its
effect is read back from a real output: the log file and its rotations, the pool, the
saved profile, the requests a real OTLP receiver got. Behaviour inside each facility is
tested with the facility; this is the link from the setting to it."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

import hyperion_otel.sdk as sdk
from hyperion_otel import memory
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import HyperionMemoryError
from hyperion_otel.settings import Settings

from otlp_receiver import OTLPReceiver, closed_port

_MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _shutdown() -> object:
    yield
    sdk.shutdown()


def _local(tmp_path: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "output_dir": str(tmp_path),
        "log_outputs": frozenset({"file"}),
        "traces_exporter": ("none",),
        "metrics_exporter": ("none",),
        "logs_exporter": ("none",),
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_format(tmp_path: Path, fmt: str) -> None:
    sdk.configure(_local(tmp_path, log_format=fmt))
    logging.getLogger("hyperion.model").warning("format check")
    sdk.shutdown()
    line = (tmp_path / "hyperion.log").read_text().splitlines()[-1]
    assert line.startswith("{") == (fmt == "json"), line


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_console_format(tmp_path: Path, fmt: str, capfd: pytest.CaptureFixture[str]) -> None:
    sdk.configure(_local(tmp_path, log_outputs=frozenset({"console"}), log_console_format=fmt))
    logging.getLogger("hyperion.model").warning("console check")
    sdk.shutdown()
    (line,) = [x for x in capfd.readouterr().err.splitlines() if "console check" in x]
    assert line.startswith("{") == (fmt == "json"), line


def test_log_categories(tmp_path: Path) -> None:
    sdk.configure(_local(tmp_path, log_categories=frozenset({"memory"})))
    logging.getLogger("hyperion.memory").warning("kept: memory")
    logging.getLogger("hyperion.model").warning("dropped: model")
    sdk.shutdown()
    text = (tmp_path / "hyperion.log").read_text()
    assert "kept: memory" in text and "dropped: model" not in text


@pytest.mark.parametrize("compress", [True, False])
def test_log_rotation_size_files_and_compression(tmp_path: Path, compress: bool) -> None:
    sdk.configure(
        _local(tmp_path, log_max_size_mb=2 / 1024, log_max_files=2, log_compress=compress)
    )
    log = logging.getLogger("hyperion.model")
    for i in range(200):
        log.warning("rotation record %d %s", i, "x" * 100)
    sdk.shutdown()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("hyperion.log."))
    rotated = [n for n in rotated if not n.endswith(".lock")]
    assert len(rotated) == 1, rotated  # log_max_files: two files, the live one included
    assert all(n.endswith(".gz") == compress for n in rotated), rotated  # log_compress
    assert (tmp_path / "hyperion.log").stat().st_size <= 2 * 1024 + 400  # log_max_size_mb


def test_memory_pool_initial_and_stack_traces(tmp_path: Path) -> None:
    sdk.configure(
        _local(tmp_path, memory_pool_initial_mb=3, memory_stack_traces=True, memory_stack_depth=2)
    )
    pool = memory.current_pool()
    assert pool is not None
    assert pool.heap_stats().pool_bytes == 3 * _MiB  # memory_pool_initial_mb
    a = pool.allocate((16,), np.float32)
    trace = memory.get_allocation_trace(a)
    frames = [ln for ln in trace.splitlines() if ln.lstrip().startswith("File ")]
    assert 1 <= len(frames) <= 2, trace  # memory_stack_traces, memory_stack_depth
    assert "test_settings_effects.py" in trace
    pool.free(a)


def test_memory_check_corruption(tmp_path: Path) -> None:
    sdk.configure(_local(tmp_path, memory_check_corruption=True))
    pool = memory.current_pool()
    assert pool is not None
    a = pool.allocate((4,), np.float32)
    raw = np.ndarray((a.nbytes + 4,), dtype=np.uint8, buffer=a.base, offset=_offset(a))
    raw[a.nbytes] ^= 0xFF  # one byte past the end: the canary
    with pytest.raises(HyperionMemoryError):
        pool.free(a)


def _offset(a: np.ndarray) -> int:
    base = a.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return a.__array_interface__["data"][0] - np.frombuffer(base, np.uint8).ctypes.data


def test_memory_guard_pages(tmp_path: Path) -> None:
    sdk.configure(_local(tmp_path, memory_guard_pages=True))
    pool = memory.current_pool()
    assert pool is not None
    a = pool.allocate((3,), np.float32)
    # Right-aligned against a PROT_NONE page: the block ends exactly at a page boundary.
    end = a.__array_interface__["data"][0] + a.nbytes
    assert end % 4096 == 0
    pool.free(a)


def test_profiler_settings(tmp_path: Path) -> None:
    out = tmp_path / "prof.json"
    sdk.configure(
        _local(
            tmp_path,
            profiling=True,
            profile_interval_ms=5.0,
            profile_output=str(out),
            profile_max_samples=20,
        )
    )
    deadline = time.perf_counter() + 0.5
    while time.perf_counter() < deadline:
        sum(i * i for i in range(1000))
    sdk.shutdown()
    other = json.loads(out.read_text())["otherData"]  # profile_output
    assert other["sample_interval_ms"] == "5.0"  # profile_interval_ms
    assert "samples=" in other["dropped"]  # profile_max_samples bounded the buffer
    samples = [e for e in json.loads(out.read_text())["traceEvents"] if e.get("cat") == "sampled"]
    assert 0 < len({e["ts"] for e in samples}) <= 20


def test_exporter_settings_reach_the_backend(tmp_path: Path) -> None:
    """Per-signal protocol, endpoint and headers, compression: what the receiver got (the
    general endpoint is a closed port, so nothing arrives unless the per-signal one is used)."""
    with OTLPReceiver() as rx, closed_port() as dead:
        sdk.configure(
            Settings(
                output_dir=str(tmp_path),
                log_outputs=frozenset({"otlp"}),
                otlp_endpoint=f"http://127.0.0.1:{dead}",  # only per-signal endpoints work
                otlp_protocol="grpc",
                otlp_traces_protocol="http/protobuf",
                otlp_traces_endpoint=rx.http_url("traces"),
                otlp_metrics_endpoint=rx.grpc_endpoint,
                otlp_logs_endpoint=rx.grpc_endpoint,
                otlp_metrics_protocol="grpc",
                otlp_logs_protocol="grpc",
                otlp_traces_headers={"x-which": "traces"},
                otlp_metrics_headers={"x-which": "metrics"},
                otlp_logs_headers={"x-which": "logs"},
                otlp_compression="gzip",
                otlp_insecure=True,
            )
        )
        with _telemetry.tracer().start_as_current_span("s"):
            logging.getLogger("hyperion.model").warning("to the receiver")
        _telemetry.counter("hyperion.test.count").add(1)
        sdk.shutdown()
        by_signal = {r.signal: r for r in rx.requests}
    assert set(by_signal) == {"traces", "metrics", "logs"}
    assert by_signal["traces"].transport == "http"  # otlp_traces_protocol
    assert by_signal["metrics"].transport == "grpc" and by_signal["logs"].transport == "grpc"
    for signal, req in by_signal.items():
        assert req.headers.get("x-which") == signal  # otlp_<signal>_headers
    assert by_signal["traces"].headers.get("content-encoding") == "gzip"  # otlp_compression


def test_memory_pool_max(tmp_path: Path) -> None:
    sdk.configure(_local(tmp_path, memory_pool_initial_mb=0, memory_pool_max_mb=1))
    pool = memory.current_pool()
    assert pool is not None
    with pytest.raises(HyperionMemoryError):
        pool.allocate((2 * _MiB // 4,), np.float32)  # 2 MiB past a 1 MiB budget


@pytest.mark.parametrize("insecure", [True, False])
def test_otlp_insecure(tmp_path: Path, insecure: bool) -> None:
    """False asks for TLS even for an http:// endpoint: the plaintext receiver gets nothing."""
    with OTLPReceiver() as rx:
        sdk.configure(
            Settings(
                output_dir=str(tmp_path),
                log_outputs=frozenset(),
                otlp_endpoint=rx.grpc_endpoint,
                otlp_protocol="grpc",
                otlp_insecure=insecure,
                shutdown_timeout_s=1.0,
            )
        )
        with _telemetry.tracer().start_as_current_span("s"):
            pass
        sdk.shutdown()
        got = [r for r in rx.requests if r.signal == "traces"]
    assert bool(got) == insecure


def test_exporters_per_signal(tmp_path: Path) -> None:
    """OTEL_{TRACES,METRICS,LOGS}_EXPORTER: none writes nothing, otlp_file writes its file."""
    sdk.configure(
        _local(
            tmp_path,
            traces_exporter=("none",),
            metrics_exporter=("otlp_file",),
            logs_exporter=("otlp_file",),
            log_outputs=frozenset({"otlp"}),
        )
    )
    with _telemetry.tracer().start_as_current_span("s"):
        logging.getLogger("hyperion.model").warning("exported")
    _telemetry.counter("hyperion.test.count").add(1)
    sdk.shutdown()
    assert not (tmp_path / "traces.jsonl").exists()
    assert "hyperion.test.count" in (tmp_path / "metrics.jsonl").read_text()
    assert "exported" in (tmp_path / "logs.jsonl").read_text()
