"""Every CLI command and every example, with secrets in every place a user can put one,
writes none of them anywhere: stdout, stderr, the JSON log, the OTLP-JSON files, profiles,
reports. And every file it writes follows the one permission policy (0640).

Secrets sit in the user info of the generic endpoint (``user:password``) and of a
per-signal endpoint (a bare token), in the generic headers and in per-signal headers (one
an explicit ``authorization``). Each program runs against a dead endpoint and a live one,
over gRPC and OTLP/HTTP, at debug level so that the OTel SDK's own lines are shown too.
With the live endpoint the test also checks the credentials were sent (so the scan is
not vacuous: the secrets were in use).
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from otlp_receiver import OTLPReceiver, closed_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))

PASSWORD = "URLPASS7731"
TOKEN = "URLTOKEN4412"
GENERIC_HEADER = "HDRGEN5521"
METRICS_HEADER = "HDRSIG6634"
LOGS_BEARER = "HDRSIG6635"
BASIC_USER_PASSWORD = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
BASIC_TOKEN = base64.b64encode(f"{TOKEN}:".encode()).decode()
SECRETS = (
    PASSWORD,
    TOKEN,
    GENERIC_HEADER,
    METRICS_HEADER,
    LOGS_BEARER,
    BASIC_USER_PASSWORD,
    BASIC_TOKEN,
)

# The programs the default run covers; the rest run with -m slow (CI runs both).
CORE = {"generate", "doctor", "otlp_export.py"}

COMMANDS: dict[str, list[str]] = {
    "generate": ["generate", "--model", "builtin:tiny", "--prompt", "Hi", "--max-new-tokens", "4"],
    "verify": ["verify", "builtin:tiny"],
    "info": ["info", "builtin:tiny", "--json"],
    "doctor": ["doctor", "--timeout", "1"],
    "profile": ["profile", "--model", "builtin:tiny", "--prompt", "Hi", "--max-new-tokens", "4"],
    "report": ["report"],
}


def _programs() -> Iterator[object]:
    for name, args in COMMANDS.items():
        cmd = [sys.executable, "-m", "hyperion_otel", *args]
        marks = () if name in CORE else (pytest.mark.slow,)
        yield pytest.param(cmd, id=name, marks=marks)
    for example in EXAMPLES:
        marks = () if example.name in CORE else (pytest.mark.slow,)
        yield pytest.param([sys.executable, str(example)], id=example.name, marks=marks)


@contextmanager
def _endpoint(live: bool, protocol: str) -> Iterator[tuple[int, OTLPReceiver | None]]:
    if live:
        with OTLPReceiver() as rx:
            url = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint
            yield int(url.rsplit(":", 1)[1]), rx
    else:
        with closed_port() as port:
            yield port, None


def _env(tmp_path: Path, protocol: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "HYPERION_")) and k != "PYTHONWARNINGS"
    }
    traces_url = f"http://{TOKEN}@127.0.0.1:{port}"
    if protocol != "grpc":
        traces_url += "/v1/traces"
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://user:{PASSWORD}@127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={GENERIC_HEADER}",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": f"x-metrics-key={METRICS_HEADER}",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": f"authorization=Bearer%20{LOGS_BEARER}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "HYPERION_SHUTDOWN_TIMEOUT_S": "1.5",
            "HYPERION_LOG_LEVEL": "debug",
            "HYPERION_LOG_OUTPUT": "console,file,otlp",
            "HYPERION_OUTPUT_DIR": str(tmp_path / "out"),
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def _written(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


@pytest.mark.parametrize("live", [False, True], ids=["dead", "live"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("cmd", list(_programs()))
def test_no_secret_in_any_byte_written(
    cmd: list[str], protocol: str, live: bool, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "out").mkdir(mode=0o750)
    with _endpoint(live, protocol) as (port, rx):
        proc = subprocess.run(
            cmd,
            cwd=work,
            env=_env(tmp_path, protocol, port),
            capture_output=True,
            timeout=240,
            check=False,
        )
        headers = rx.headers if rx is not None else []
        # What reached the backend: span, resource and log record attributes, log bodies.
        received = repr((rx.spans, rx.logs, rx.metrics)).encode() if rx is not None else b""
    streams = proc.stdout + proc.stderr
    files = {p: p.read_bytes() for p in _written(tmp_path)}
    assert files or streams, "the program wrote nothing: nothing was scanned"
    for secret in SECRETS:
        raw = secret.encode()
        assert raw not in streams, f"{secret} on stdout/stderr:\n{streams.decode(errors='replace')}"
        assert raw not in received, f"{secret} exported over OTLP"
        leaked = [str(p.relative_to(tmp_path)) for p, data in files.items() if raw in data]
        assert leaked == [], f"{secret} written to {leaked}"
    loose = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) & ~0o640
    }
    assert loose == {}, "files looser than 0640"
    if live and "generate" in cmd:
        assert headers, "a live generate sent nothing"
    if headers:
        auth = {h.get("authorization") for h in headers}
        # Credentials from the URLs went out as Basic; the explicit header was kept.
        assert auth & {f"Basic {BASIC_USER_PASSWORD}", f"Basic {BASIC_TOKEN}"}, auth
        assert not auth - {
            f"Basic {BASIC_USER_PASSWORD}",
            f"Basic {BASIC_TOKEN}",
            f"Bearer {LOGS_BEARER}",
        }, auth


@pytest.mark.parametrize("level", ["info", "debug"])
def test_sdk_retry_lines_show_only_at_debug_level(level: str, tmp_path: Path) -> None:
    """A collector that is down: our one summary line, and the SDK's own lines at debug."""
    with closed_port() as port:
        env = _env(tmp_path, "grpc", port)
        env["HYPERION_LOG_LEVEL"] = level
        env["HYPERION_LOG_OUTPUT"] = "file"
        proc = subprocess.run(
            [sys.executable, "-m", "hyperion_otel", *COMMANDS["generate"]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert "not delivered" in proc.stderr
    sdk_lines = [
        line
        for line in proc.stderr.splitlines()
        if "Transient error" in line or "Shutdown in progress" in line or "Failed to export" in line
    ]
    if level == "info":
        assert sdk_lines == []
    else:
        assert sdk_lines, proc.stderr
