"""Doctor checks of the configuration: the settings themselves and the log file.

Every check returns ``Check`` rows and never raises for a problem it finds: a problem is a
``fail`` row with a concrete fix, a doubtful choice a ``warn`` row.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from hyperion_otel.errors import ConfigError
from hyperion_otel.settings import ENV_VARS, SIGNALS, Settings, mask_url

__all__ = ["Check", "Status", "check_log_file", "load_settings", "pipeline_summary"]

_MiB = 1024 * 1024
_BY_NAME = {v.name: v for v in ENV_VARS}
# A live rotation test writes this many records of ~100 bytes into a file rotated at 1 KiB.
_ROTATION_RECORDS = 40
_ROTATION_MAX_BYTES = 1024


class Status(str, enum.Enum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


# --- settings -------------------------------------------------------------------------------
def load_settings(environ: Mapping[str, str] | None = None) -> tuple[Settings, list[Check]]:
    """Settings from the environment, with a ``fail`` row per bad variable.

    A bad variable is reported and then left out, so the other checks still run with
    everything else the environment says.
    """
    env = dict(os.environ if environ is None else environ)
    rows: list[Check] = []
    settings = Settings()
    for _ in range(len(ENV_VARS) + 1):
        try:
            settings = Settings.from_env(env)
            break
        except ConfigError as exc:
            var = str(exc.details.get("variable", ""))
            if var not in env:  # not an env var problem: nothing to leave out
                rows.append(
                    Check("settings", Status.FAIL, exc.message, "fix the setting named above")
                )
                break
            spec = _BY_NAME[var]
            rows.append(
                Check(
                    f"setting {var}",
                    Status.FAIL,
                    exc.message,
                    f"set {var} to {spec.allowed} (default {spec.default_doc}), or unset it",
                )
            )
            del env[var]
    if not rows:
        rows.append(Check("settings", Status.PASS, _settings_detail(settings, env)))
    rows.extend(_settings_warnings(settings))
    return settings, rows


def _settings_detail(settings: Settings, env: Mapping[str, str]) -> str:
    n = sum(1 for v in ENV_VARS if env.get(v.name, "").strip())
    return f"{n} variable(s) set, all valid; " + pipeline_summary(settings)


def pipeline_summary(settings: Settings) -> str:
    """Where each signal goes, e.g. ``traces -> otlp grpc http://localhost:4317``."""
    if settings.sdk_disabled:
        return "OTEL_SDK_DISABLED=true: no telemetry is exported"
    parts = []
    for signal in SIGNALS:
        names = settings.exporters_for(signal)
        shown = []
        for name in names:
            if name == "otlp":
                shown.append(
                    f"otlp {settings.protocol_for(signal)} {mask_url(settings.endpoint_for(signal))}"
                )
            elif name == "otlp_file":
                shown.append(f"file {os.path.join(settings.output_dir, signal + '.jsonl')}")
            else:
                shown.append(name)
        parts.append(f"{signal} -> {', '.join(shown) or 'nowhere'}")
    return "; ".join(parts)


def _settings_warnings(settings: Settings) -> list[Check]:
    rows: list[Check] = []
    if settings.sdk_disabled:
        rows.append(
            Check(
                "settings",
                Status.WARN,
                "OTEL_SDK_DISABLED=true: every signal is a no-op",
                "unset OTEL_SDK_DISABLED to export telemetry",
            )
        )
    for signal in SIGNALS:
        if not settings.sdk_disabled and not settings.exporters_for(signal):
            var = f"OTEL_{signal.upper()}_EXPORTER"
            rows.append(
                Check(
                    f"{signal} exporter",
                    Status.WARN,
                    f"{var}=none: {signal} are dropped",
                    f"set {var}=otlp (or otlp_file) to keep them",
                )
            )
        if "otlp" not in settings.exporters_for(signal):
            continue
        row = _endpoint_mismatch(settings, signal)
        if row is not None:
            rows.append(row)
    return _merge_same(rows)


def _merge_same(rows: list[Check]) -> list[Check]:
    """One row for a finding shared by several signals (the generic endpoint's port)."""
    merged: dict[tuple[Status, str, str], list[str]] = {}
    for r in rows:
        merged.setdefault((r.status, r.detail, r.fix), []).append(r.name)
    return [
        Check(_join_names(names), st, detail, fix) for (st, detail, fix), names in merged.items()
    ]


def _join_names(names: list[str]) -> str:
    """``["traces endpoint", "logs endpoint"]`` -> ``"traces, logs endpoint"``."""
    tails = {n.rpartition(" ")[2] for n in names}
    if len(names) > 1 and len(tails) == 1 and all(" " in n for n in names):
        return ", ".join(n.rpartition(" ")[0] for n in names) + " " + tails.pop()
    return ", ".join(names)


def _endpoint_mismatch(settings: Settings, signal: str) -> Check | None:
    """The classic mistakes: gRPC sent to the HTTP port, HTTP to the gRPC port or no path."""
    url = settings.endpoint_for(signal)
    parsed = urllib.parse.urlsplit(url if "//" in url else "//" + url)
    protocol = settings.protocol_for(signal)
    per_signal = bool(getattr(settings, f"otlp_{signal}_endpoint"))
    var = (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        if per_signal
        else "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    proto_var = "OTEL_EXPORTER_OTLP_PROTOCOL"
    try:
        port = parsed.port
    except ValueError:
        return Check(
            f"{signal} endpoint",
            Status.FAIL,
            f"{var}={url}: the port is not a number",
            f"set {var} to a URL like http://host:4317",
        )
    if protocol == "grpc" and port == 4318:
        return Check(
            f"{signal} endpoint",
            Status.WARN,
            f"{url} uses port 4318 (OTLP/HTTP) but the protocol is grpc",
            f"use port 4317 in {var}, or set {proto_var}=http/protobuf",
        )
    if protocol == "http/protobuf" and port == 4317:
        return Check(
            f"{signal} endpoint",
            Status.WARN,
            f"{url} uses port 4317 (OTLP/gRPC) but the protocol is http/protobuf",
            f"use port 4318 in {var}, or set {proto_var}=grpc",
        )
    if (
        protocol == "http/protobuf"
        and per_signal
        and not parsed.path.rstrip("/").endswith(f"/v1/{signal}")
    ):
        return Check(
            f"{signal} endpoint",
            Status.WARN,
            f"{var}={url} is used as is and has no /v1/{signal} path",
            f"append /v1/{signal} to {var} (only the generic endpoint gets it appended)",
        )
    return None


# --- log file --------------------------------------------------------------------------------
def _existing_ancestor(path: str) -> str:
    current = path
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _probe_writable(directory: str) -> str | None:
    """Create and delete a file in ``directory``; the OS error text, or None when it works.

    A real write, not ``os.access``: root passes ``access`` checks on read-only file systems.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".hyperion-doctor-", dir=directory)
    except OSError as exc:
        return f"{exc.strerror or exc}"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def check_log_file(settings: Settings) -> list[Check]:
    """The log file can be written, and rotation works and fits on the disk."""
    if "file" not in settings.log_outputs:
        return [Check("log file", Status.PASS, "file output is off (HYPERION_LOG_OUTPUT)")]
    path = os.path.abspath(settings.effective_log_file())
    directory = os.path.dirname(path)
    var = "HYPERION_LOG_FILE" if settings.log_file else "HYPERION_OUTPUT_DIR"
    fix = (
        f"make {directory} writable for this user, or set {var} to a writable location "
        "(or drop 'file' from HYPERION_LOG_OUTPUT)"
    )
    if os.path.isdir(path):
        return [
            Check(
                "log file",
                Status.FAIL,
                f"{path} is a directory",
                f"set HYPERION_LOG_FILE to a file path inside {path}",
            )
        ]
    anchor = _existing_ancestor(directory)
    if not os.path.isdir(anchor):
        return [
            Check(
                "log file",
                Status.FAIL,
                f"cannot create log directory {directory}: {anchor} is a file, not a directory",
                f"move {anchor} out of the way, or set {var} to a path in a writable directory",
            )
        ]
    error = _probe_writable(anchor)
    if error is not None:
        return [
            Check("log file", Status.FAIL, f"log directory {anchor} is not writable: {error}", fix)
        ]
    if os.path.exists(path):
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            return [
                Check(
                    "log file", Status.FAIL, f"cannot append to {path}: {exc.strerror or exc}", fix
                )
            ]
    note = "" if anchor == directory else f" ({directory} will be created)"
    rows = [Check("log file", Status.PASS, f"{path} is writable{note}")]
    rows.append(_check_rotation(settings, anchor))
    return rows


def _check_rotation(settings: Settings, directory: str) -> Check:
    worst_case = settings.log_max_size_mb * _MiB * (settings.log_max_files + 1)
    live = _live_rotation(settings, directory)
    if live is not None:
        return Check(
            "log rotation",
            Status.FAIL,
            f"a test rotation in {directory} failed: {live}",
            "check the file system supports rename and flock, or move HYPERION_LOG_FILE",
        )
    free = shutil.disk_usage(directory).free
    desc = (
        f"rotates at {settings.log_max_size_mb:g} MB, keeps {settings.log_max_files} file(s)"
        f"{', gzipped' if settings.log_compress else ''}: up to {worst_case / _MiB:.0f} MB; "
        f"{free / _MiB:.0f} MB free; a test rotation worked"
    )
    if worst_case > free:
        return Check(
            "log rotation",
            Status.WARN,
            desc,
            "lower HYPERION_LOG_MAX_SIZE_MB or HYPERION_LOG_MAX_FILES, or free disk space",
        )
    if settings.log_max_size_mb < 0.1:
        return Check(
            "log rotation",
            Status.WARN,
            desc + "; files this small rotate very often",
            "raise HYPERION_LOG_MAX_SIZE_MB to 1 or more",
        )
    return Check("log rotation", Status.PASS, desc)


def _live_rotation(settings: Settings, directory: str) -> str | None:
    """Rotate a scratch log in ``directory`` (same file system as the real log); None if fine."""
    from hyperion_otel.logging import JsonFormatter, LogFileHandler

    scratch = tempfile.mkdtemp(prefix=".hyperion-doctor-", dir=directory)
    try:
        handler = LogFileHandler(
            os.path.join(scratch, "doctor.log"),
            max_bytes=_ROTATION_MAX_BYTES,
            max_files=2,
            compress=settings.log_compress,
            close_timeout_s=2.0,
            formatter=JsonFormatter(),
        )
        try:
            for i in range(_ROTATION_RECORDS):
                rec = logging.LogRecord(
                    "hyperion.doctor",
                    logging.INFO,
                    __file__,
                    0,
                    "rotation test record %d %s",
                    (i, "x" * 40),
                    None,
                )
                handler.handle(rec)
        finally:
            handler.close()
        files = [
            f for f in os.listdir(scratch) if f.startswith("doctor.log") and not f.endswith(".lock")
        ]
        backups = [f for f in files if f != "doctor.log"]
        if not backups:
            return "no rotated file appeared after writing past the size limit"
        if len(backups) > 2:
            return f"{len(backups)} rotated files kept where at most 2 were allowed"
        return None
    except OSError as exc:
        return f"{exc.strerror or exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
