"""``hyperion-otel doctor``: each failure it must find, with the fix it must give, and a clean
pass against a live OTLP receiver. Runs in-process through ``main`` (one run as a real
subprocess), with the environment cleared of OTEL_*/HYPERION_* by ``clean_env``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hyperion_otel import semconv
from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.cli import main

from otlp_receiver import OTLPReceiver, closed_port

ROOT = Path(__file__).resolve().parents[2]


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    rc = main(["doctor", "--json", *args])
    out = capsys.readouterr().out
    return rc, json.loads(out)


def rows(report: dict[str, Any], status: str | None = None) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"] if status is None or c["status"] == status}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_passes_against_a_live_receiver_and_masks_secrets(
    protocol: str,
    clean_env: Path,
    otlp_receiver: OTLPReceiver,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cr3t-token")
    rc, report = doctor(capsys, "--model", str(tiny_model))

    assert rc == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["ok"] and report["counts"]["fail"] == 0
    by_name = rows(report)
    for signal in ("traces", "metrics", "logs"):
        row = by_name[f"{signal} export (otlp)"]
        assert row["status"] == "pass" and "accepted by" in row["detail"], row
    for name in (
        "settings",
        "log file",
        "log rotation",
        "memory tracking",
        "profiler",
        "model",
        "resource limits",
    ):
        assert by_name[name]["status"] == "pass", by_name[name]
    # The export result counted, not a TCP connect: the receiver really got each test item.
    assert any(s.name == semconv.SPAN_DOCTOR_PROBE for s in otlp_receiver.wait_for_spans(1))
    assert otlp_receiver.wait_for_logs(1)
    assert otlp_receiver.wait_for_metric(semconv.METRIC_DOCTOR_PROBE)
    # Secrets are masked everywhere, including the settings dump.
    text = json.dumps(report)
    assert "s3cr3t" not in text
    assert report["settings"]["otlp_headers"] == {"authorization": "***"}
    # Nothing was written where the run would write.
    assert not clean_env.exists()


def test_dead_endpoint_is_named_with_the_variable_to_fix(
    clean_env: Path,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with closed_port() as port:
        # Spans go to a dead per-signal endpoint; metrics and logs to the live receiver.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}")
        rc, report = doctor(capsys, "--no-model", "--timeout", "1")
    assert rc == 1 and not report["ok"]
    failed = rows(report, "fail")
    assert list(failed) == ["traces export (otlp)"]
    row = failed["traces export (otlp)"]
    assert f"http://127.0.0.1:{port}" in row["detail"] and "connection refused" in row["detail"]
    assert f"127.0.0.1:{port}" in row["fix"]
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in row["fix"]
    assert rows(report)["metrics export (otlp)"]["status"] == "pass"


def test_endpoint_that_answers_with_errors_is_not_a_pass(
    clean_env: Path,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    otlp_receiver.set_fault("status", http_status=400)  # 400 is not retried: fast
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    rc, report = doctor(capsys, "--no-model", "--timeout", "1")
    assert rc == 1
    row = rows(report)["logs export (otlp)"]
    assert row["status"] == "fail" and "reachable but did not accept" in row["detail"]
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in row["fix"]


def test_unwritable_log_directory(
    clean_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    monkeypatch.setenv("HYPERION_LOG_FILE", str(blocker / "logs" / "hyperion.log"))
    rc, report = doctor(capsys, "--no-model")
    assert rc == 1
    row = rows(report)["log file"]
    assert row["status"] == "fail"
    assert str(blocker) in row["detail"] and "not a directory" in row["detail"]
    assert "HYPERION_LOG_FILE" in row["fix"] and str(blocker) in row["fix"]


def test_bad_environment_variables_are_rows_not_tracebacks(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HYPERION_LOG_LEVEL", "loud")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "secret-without-equals")
    monkeypatch.setenv("HYPERION_MEMORY_POOL_MAX_MB", "-3")
    rc, report = doctor(capsys, "--no-model")
    assert rc == 1
    failed = rows(report, "fail")
    assert set(failed) == {
        "setting HYPERION_LOG_LEVEL",
        "setting OTEL_EXPORTER_OTLP_HEADERS",
        "setting HYPERION_MEMORY_POOL_MAX_MB",
    }
    level = failed["setting HYPERION_LOG_LEVEL"]
    assert "'loud'" in level["detail"]
    assert level["fix"].startswith(
        "set HYPERION_LOG_LEVEL to trace, debug, info, warn, error, fatal"
    )
    assert "secret-without-equals" not in json.dumps(report)  # a secret's bad value is masked too
    # The rest of the checklist still ran, with the other settings.
    assert rows(report)["memory tracking"]["status"] == "pass"


def test_corrupt_and_missing_model(
    clean_env: Path,
    corrupt_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, report = doctor(capsys, "--model", str(corrupt_model))
    assert rc == 1
    row = rows(report)["model"]
    assert row["status"] == "fail" and "NaN" in row["detail"]
    assert "download or convert the checkpoint again" in row["fix"]
    assert f"hyperion-otel verify {corrupt_model}" in row["fix"]

    rc, report = doctor(capsys, "--model", str(tmp_path / "nowhere"))
    assert rc == 1
    assert "no such file or directory" in rows(report)["model"]["detail"]
    assert "--model" in rows(report)["model"]["fix"]


def test_a_model_without_tokenizer_is_a_warning_with_the_fix(
    clean_env: Path,
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = Path(shutil.copytree(tiny_model, tmp_path / "bare"))
    cfg = json.loads((bare / "config.json").read_text())
    del cfg["hyperion_tokenizer"]
    (bare / "config.json").write_text(json.dumps(cfg))
    rc, report = doctor(capsys, "--model", str(bare))
    row = rows(report)["model"]
    assert rc == 0 and row["status"] == "warn"
    assert "no tokenizer, so text prompts fail" in row["detail"]
    assert "tokenizer.json" in row["fix"] and "token ids" in row["fix"]
    _, report = doctor(capsys, "--model", str(tiny_model))
    assert rows(report)["model"]["detail"].endswith(", byte tokenizer")


def test_endpoint_port_mismatch_is_a_warning(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp_file")
    _, report = doctor(capsys, "--no-model")
    warned = rows(report, "warn")
    assert "traces exporter" in warned and "metrics exporter" in warned
    assert rows(report)["logs export (file)"]["status"] == "pass"


def test_process_is_left_as_found(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = {t.ident for t in threading.enumerate()}
    allocator = _allocator.get_allocator()
    exporter_log = logging.getLogger("opentelemetry.exporter")
    handlers, propagate = list(exporter_log.handlers), exporter_log.propagate
    rc, _ = doctor(capsys, "--no-model")
    assert rc == 0
    assert sys.getprofile() is None and threading.getprofile() is None
    assert _allocator.get_allocator() is allocator
    assert exporter_log.handlers == handlers and exporter_log.propagate == propagate
    assert {t.ident for t in threading.enumerate()} <= threads | {None}


def test_table_output(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HYPERION_LOG_LEVEL", "loud")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=hunter2")
    rc = main(["doctor", "--no-model"])
    out = capsys.readouterr().out
    assert rc == 1
    for text in (
        "hyperion-otel doctor",
        "setting HYPERION_LOG_LEVEL",
        "FAIL",
        "PASS",
        "memory tracking",
        "PROBLEMS FOUND",
        "Effective configuration",
        "api-key=***",
    ):
        assert text in out, text
    assert "hunter2" not in out


def test_as_a_real_command(clean_env: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYPERION_MAX_THREADS": "many"}
    proc = subprocess.run(
        [sys.executable, "-m", "hyperion_otel", "doctor", "--no-model", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert rows(report, "fail")["setting HYPERION_MAX_THREADS"]["fix"].startswith(
        "set HYPERION_MAX_THREADS to"
    )
    assert not (tmp_path / "hyperion-output").exists()
