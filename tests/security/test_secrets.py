"""OTLP headers and API keys never appear in logs, doctor output or exception messages.

The secrets are sent (the receiver sees them), so the tests prove masking, not absence.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hyperion_otel.sdk as sdk
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import ConfigError
from hyperion_otel.logging import get_logger
from hyperion_otel.settings import Settings

from otlp_receiver import OTLPReceiver, closed_port

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("HDRSECRET1", "Bearer HDRSECRET2", "HDRSECRET3")
HEADER_ENV = {
    "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=HDRSECRET1,authorization=Bearer%20HDRSECRET2",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-trace-key=HDRSECRET3",
}


def _leaks(text: str) -> list[str]:
    return [s for s in ("HDRSECRET", "PWSECRET", "QSECRET") if s in text]


def _files_text(directory: Path) -> str:
    return "".join(
        p.read_bytes().decode("utf-8", "replace") for p in directory.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_headers_are_sent_but_never_logged(
    protocol: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Debug logging to console and file, a collector that refuses, a shutdown that
    reports losses: none of it shows a header value."""
    caplog.set_level(logging.DEBUG)
    with closed_port() as port:
        env = {
            **HEADER_ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "0.5",
            "HYPERION_OUTPUT_DIR": str(tmp_path),
            "HYPERION_LOG_LEVEL": "debug",
            "HYPERION_LOG_OUTPUT": "console,file,otlp",
        }
        tel = sdk.configure(Settings.from_env(env), shutdown_timeout_s=0.5)
        assert tel.settings.headers_for("traces")["x-api-key"] == "HDRSECRET1"
        for i in range(20):
            with _telemetry.tracer().start_as_current_span("work"):
                get_logger().warning("unit %d", i)
        tel.force_flush(1.0)
        report = sdk.shutdown()
    assert report is not None and report.total_lost > 0  # the failure path did run
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    seen = out + err + logged + _files_text(tmp_path) + repr(report)
    assert "not delivered" in seen
    assert _leaks(seen) == []


def test_config_errors_never_show_header_values() -> None:
    bad = {"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key HDRSECRET1 no equals sign"}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(bad)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in str(info.value)
    assert _leaks(str(info.value)) == [] and _leaks(repr(info.value.__dict__)) == []
    masked = Settings.from_env(HEADER_ENV).masked()
    assert _leaks(json.dumps(masked, default=str)) == []
    assert masked["otlp_headers"] == {"x-api-key": "***", "authorization": "***"}


def test_config_error_for_a_non_text_header_value_is_masked() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(otlp_headers={"x-api-key": b"HDRSECRET1"})  # type: ignore[dict-item]
    assert _leaks(str(info.value)) == []


def test_settings_repr_masks_header_values() -> None:
    assert _leaks(repr(Settings.from_env(HEADER_ENV))) == []


def _doctor(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    return subprocess.run(
        [sys.executable, "-m", "hyperion_otel", "doctor", "--no-model", "--timeout", "2", *args],
        env={**clean, **env, "HYPERION_OUTPUT_DIR": str(tmp_path / "out"), "COLUMNS": "200"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_doctor_output_masks_headers(otlp_receiver: OTLPReceiver, tmp_path: Path, fmt: str) -> None:
    env = {
        **HEADER_ENV,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    out = _doctor(env, tmp_path, *(["--json"] if fmt == "json" else []))
    assert out.returncode in (0, 1), out.stderr
    assert "***" in out.stdout  # the headers are listed, masked
    assert _leaks(out.stdout + out.stderr + _files_text(tmp_path)) == []
    # ... and they were really in force: the doctor's test exports carried them.
    sent = otlp_receiver.headers
    assert sent and all(h.get("x-api-key") == "HDRSECRET1" for h in sent)


def test_doctor_output_masks_credentials_in_the_endpoint(tmp_path: Path) -> None:
    with closed_port() as port:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://user:PWSECRET@127.0.0.1:{port}/?api_key=QSECRET"
        }
        out = _doctor(env, tmp_path)
    assert _leaks(out.stdout + out.stderr) == []


def test_exceptions_recorded_by_the_runtime_do_not_carry_headers(tmp_path: Path) -> None:
    """Errors raised while configured (a bad model path) are recorded on spans and logs;
    none of what is recorded mentions the headers."""
    from hyperion_otel.errors import ModelError
    from hyperion_otel.runtime import load_model

    tel = sdk.configure(
        Settings.from_env({**HEADER_ENV, "HYPERION_OUTPUT_DIR": str(tmp_path)}),
        log_outputs=("file",),
    )
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "no-such-model")
    assert _leaks(str(info.value)) == []
    tel.shutdown()
    text: Any = _files_text(tmp_path)
    assert "no-such-model" in text  # the failure was recorded in the local telemetry
    assert _leaks(text) == []
