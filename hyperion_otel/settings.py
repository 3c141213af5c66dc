"""Settings: the one place that reads the environment.

Precedence is explicit argument > environment > default: ``Settings.from_env(**overrides)``
reads the environment and applies keyword overrides on top; ``Settings(...)`` built in
code ignores the environment entirely. Every variable is declared once in ``ENV_VARS``
with its default and allowed values; the README's table is checked against it by a test.

``OTEL_*`` variables keep the meaning the OTel Python SDK gives them (for example
``OTEL_EXPORTER_OTLP_TIMEOUT`` is in seconds, as the Python exporters read it).
"""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hyperion_otel.errors import ConfigError, InvalidInputError, public

__all__ = ["ENV_VARS", "EnvVar", "Settings", "mask_url", "read_setting"]

SIGNALS: Final = ("traces", "metrics", "logs")
EXPORTERS: Final = ("otlp", "console", "otlp_file", "none")
PROTOCOLS: Final = ("grpc", "http/protobuf")
COMPRESSIONS: Final = ("gzip", "deflate", "none")
LOG_LEVELS: Final = ("trace", "debug", "info", "warn", "error", "fatal")
LOG_OUTPUTS: Final = ("console", "file", "otlp")
LOG_FORMATS: Final = ("json", "text")
LOG_CATEGORIES: Final = ("memory", "performance", "model")
EXCEPTION_SIGNALS: Final = ("logs", "logs/dup")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


# --- parsers: text of an env var -> typed value; raise ValueError(expected-text) ----------
def _bool(text: str) -> bool:
    v = text.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("true/false/1/0/yes/no/on/off")


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        v = text.strip().lower()
        if v == "warning" and "warn" in allowed:
            v = "warn"
        if v not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return v

    return parse


def _number(
    lo: float, hi: float = math.inf, *, integer: bool = False, optional: bool = False
) -> Callable[[str], Any]:
    kind = "an integer" if integer else "a number"
    upper = "" if hi == math.inf else f" and <= {hi:g}"
    expected = f"{kind} >= {lo:g}{upper}" + (", or empty for no limit" if optional else "")

    def parse(text: str) -> Any:
        t = text.strip()
        if optional and t.lower() in ("", "none"):
            return None
        try:
            v = int(t) if integer else float(t)
        except ValueError:
            raise ValueError(expected) from None
        if not (lo <= v <= hi) or (not integer and not math.isfinite(v)):
            raise ValueError(expected)
        return v

    return parse


def _text(text: str) -> str | None:
    return text.strip() or None


def _url(text: str) -> str | None:
    t = text.strip()
    if not t:
        return None
    parts = urllib.parse.urlsplit(t)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host, e.g. http://localhost:4317")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError("a URL with a valid port, e.g. http://localhost:4317") from None
    return t


def _list(
    allowed: tuple[str, ...], *, keywords: Mapping[str, tuple[str, ...]] | None = None
) -> Callable[[str], frozenset[str]]:
    extra = keywords or {}

    def parse(text: str) -> frozenset[str]:
        items = [p.strip().lower() for p in text.split(",") if p.strip()]
        out: set[str] = set()
        for item in items:
            if item in extra:
                out.update(extra[item])
            elif item in allowed:
                out.add(item)
            else:
                names = [*allowed, *extra]
                raise ValueError("comma list of " + ", ".join(names))
        return frozenset(out)

    return parse


def _exporter_list(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    named = ", ".join(a for a in allowed if a != "none")

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(p.strip().lower() for p in text.split(",") if p.strip())
        for item in items:
            if item not in allowed:
                raise ValueError("comma list of " + ", ".join(allowed))
        if "none" in items and len(items) > 1:
            raise ValueError(f"'none' alone, or a comma list of {named}")
        return items

    return parse


_exporters = _exporter_list(EXPORTERS)
# The pull exporter serves metrics only (opentelemetry-exporter-prometheus, extra "prometheus").
_metric_exporters = _exporter_list((*EXPORTERS[:-1], "prometheus", "none"))


def _host(text: str) -> str | None:
    t = text.strip()
    if not t:
        return None
    if any(c in t for c in "/ @?#"):
        raise ValueError("a host name or IP address to listen on, e.g. localhost or 0.0.0.0")
    return t


def _key_values(text: str) -> dict[str, str]:
    """W3C-baggage-like ``k=v,k2=v2`` with percent-decoding, as the OTel SDK reads it."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError("comma list of key=value pairs")
        out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: the Settings field it sets, its default, what it allows."""

    name: str
    field: str
    parse: Callable[[str], Any]
    default_doc: str
    allowed: str
    doc: str
    secret: bool = False


def _v(
    name: str,
    fld: str,
    parse: Callable[[str], Any],
    default_doc: str,
    allowed: str,
    doc: str,
    *,
    secret: bool = False,
) -> EnvVar:
    return EnvVar(name, fld, parse, default_doc, allowed, doc, secret)


_POS = _number(0.0)
_BOOLS = "true, false (also 1/0, yes/no, on/off)"

ENV_VARS: Final[tuple[EnvVar, ...]] = (
    # --- Hyperion facilities ---------------------------------------------------------------
    _v(
        "HYPERION_OUTPUT_DIR",
        "output_dir",
        _text,
        "hyperion-output",
        "a directory path",
        "Local output: OTLP-JSON telemetry files, default log file, profiles",
    ),
    _v(
        "HYPERION_LOG_LEVEL",
        "log_level",
        _choice(LOG_LEVELS),
        "info",
        ", ".join(LOG_LEVELS),
        "Minimum level of the `hyperion` loggers",
    ),
    _v(
        "HYPERION_LOG_OUTPUT",
        "log_outputs",
        _list(LOG_OUTPUTS),
        "console,file,otlp",
        "comma list of console, file, otlp",
        "Where log records go (otlp: to the logs exporter)",
    ),
    _v(
        "HYPERION_LOG_FILE",
        "log_file",
        _text,
        "<output dir>/hyperion.log",
        "a file path",
        "Path of the rotating JSON log file",
    ),
    _v(
        "HYPERION_LOG_FORMAT",
        "log_format",
        _choice(LOG_FORMATS),
        "json",
        "json, text",
        "Format of the log file",
    ),
    _v(
        "HYPERION_LOG_CONSOLE_FORMAT",
        "log_console_format",
        _choice(LOG_FORMATS),
        "text",
        "json, text",
        "Format of console log lines",
    ),
    _v(
        "HYPERION_LOG_CATEGORIES",
        "log_categories",
        _list(LOG_CATEGORIES, keywords={"all": LOG_CATEGORIES, "none": ()}),
        "all",
        "comma list of memory, performance, model (or all, none)",
        "Categories whose records are logged",
    ),
    _v(
        "HYPERION_LOG_MAX_SIZE_MB",
        "log_max_size_mb",
        _number(0.001, 1e6),
        "10",
        "a number > 0",
        "Rotate the log file past this size",
    ),
    _v(
        "HYPERION_LOG_MAX_FILES",
        "log_max_files",
        _number(1, 1000, integer=True),
        "5",
        "an integer 1..1000",
        "Log files kept, the live one included (the oldest rotated one is deleted)",
    ),
    _v(
        "HYPERION_LOG_COMPRESS",
        "log_compress",
        _bool,
        "true",
        _BOOLS,
        "Gzip rotated files (on a background thread)",
    ),
    _v(
        "HYPERION_MEMORY_TRACKING",
        "memory_tracking",
        _bool,
        "false",
        _BOOLS,
        "Track every pool allocation (size, shape, site, span)",
    ),
    _v(
        "HYPERION_MEMORY_STACK_TRACES",
        "memory_stack_traces",
        _bool,
        "false",
        _BOOLS,
        "Keep a stack trace per tracked allocation",
    ),
    _v(
        "HYPERION_MEMORY_STACK_DEPTH",
        "memory_stack_depth",
        _number(1, 256, integer=True),
        "16",
        "an integer 1..256",
        "Frames kept per allocation stack",
    ),
    _v(
        "HYPERION_MEMORY_GUARD_PAGES",
        "memory_guard_pages",
        _bool,
        "false",
        _BOOLS,
        "Debug allocator: a PROT_NONE page after every allocation",
    ),
    _v(
        "HYPERION_MEMORY_CHECK_CORRUPTION",
        "memory_check_corruption",
        _bool,
        "false",
        _BOOLS,
        "Canary bytes around every allocation, checked at free",
    ),
    _v(
        "HYPERION_MEMORY_POOL_INITIAL_MB",
        "memory_pool_initial_mb",
        _number(0.0, 1e7),
        "16",
        "a number >= 0",
        "Pool memory reserved up front",
    ),
    _v(
        "HYPERION_MEMORY_POOL_MAX_MB",
        "memory_pool_max_mb",
        _number(0.001, 1e7, optional=True),
        "none (no limit)",
        "a number > 0, or empty/none for no limit",
        "Pool budget; past it allocation raises HyperionMemoryError",
    ),
    _v(
        "HYPERION_PROFILING",
        "profiling",
        _bool,
        "false",
        _BOOLS,
        "Run the sampling profiler from configure() to shutdown()",
    ),
    _v(
        "HYPERION_PROFILE_INTERVAL_MS",
        "profile_interval_ms",
        _number(0.05, 10000),
        "1",
        "a number 0.05..10000",
        "Sampling interval",
    ),
    _v(
        "HYPERION_PROFILE_OUTPUT",
        "profile_output",
        _text,
        "none",
        "a file path (*.json Chrome trace, *.speedscope.json)",
        "Where the profile is saved at shutdown",
    ),
    _v(
        "HYPERION_PROFILE_MAX_SAMPLES",
        "profile_max_samples",
        _number(1, 10**8, integer=True),
        "200000",
        "an integer >= 1",
        "Bound of the profiler's sample and event buffers",
    ),
    _v(
        "HYPERION_MAX_CPU_PERCENT",
        "max_cpu_percent",
        _number(1, 100 * 1024, optional=True),
        "none",
        "a number >= 1 (100 = one core), or none",
        "CPU share the model may use",
    ),
    _v(
        "HYPERION_MAX_MEMORY_MB",
        "max_memory_mb",
        _number(1, 1e8, optional=True),
        "none",
        "a number >= 1, or none",
        "Memory budget of the model (pool and RSS)",
    ),
    _v(
        "HYPERION_MAX_THREADS",
        "max_threads",
        _number(1, 4096, integer=True, optional=True),
        "none",
        "an integer >= 1, or none",
        "BLAS/OpenMP threads while the model runs",
    ),
    _v(
        "HYPERION_GENERATION_DEBUG",
        "generation_debug",
        _bool,
        "false",
        _BOOLS,
        "Log top candidates of every sampling step; a span per decode step",
    ),
    _v(
        "HYPERION_SHUTDOWN_TIMEOUT_S",
        "shutdown_timeout_s",
        _number(0.0, 3600),
        "2",
        "a number of seconds >= 0",
        "Time shutdown() may take in all (flush and export)",
    ),
    _v(
        "HYPERION_TELEMETRY_FILE_MAX_MB",
        "telemetry_file_max_mb",
        _number(0.001, 1e6),
        "100",
        "a number > 0",
        "Size bound per local OTLP-JSON file (one rotated copy kept)",
    ),
    # --- OpenTelemetry ---------------------------------------------------------------------
    _v(
        "OTEL_SDK_DISABLED",
        "sdk_disabled",
        _bool,
        "false",
        _BOOLS,
        "Disable the SDK: every signal becomes a no-op",
    ),
    _v(
        "OTEL_SERVICE_NAME",
        "service_name",
        _text,
        "hyperion-otel",
        "a string",
        "service.name resource attribute",
    ),
    _v(
        "OTEL_RESOURCE_ATTRIBUTES",
        "resource_attributes",
        _key_values,
        "none",
        "comma list of key=value (percent-encoded)",
        "Extra resource attributes",
    ),
    _v(
        "OTEL_TRACES_EXPORTER",
        "traces_exporter",
        _exporters,
        "otlp_file, or otlp when an endpoint is set",
        "comma list of otlp, console, otlp_file, none",
        "Span exporters",
    ),
    _v(
        "OTEL_METRICS_EXPORTER",
        "metrics_exporter",
        _metric_exporters,
        "otlp_file, or otlp when an endpoint is set",
        "comma list of otlp, console, otlp_file, prometheus, none",
        "Metric exporters (prometheus: a pull endpoint for Prometheus to scrape)",
    ),
    _v(
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "prometheus_host",
        _host,
        "localhost",
        "a host name or IP address",
        "Address the Prometheus scrape endpoint listens on",
    ),
    _v(
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "prometheus_port",
        _number(0, 65535, integer=True),
        "9464",
        "a port number (0: any free port)",
        "Port of the Prometheus scrape endpoint (/metrics)",
    ),
    _v(
        "OTEL_LOGS_EXPORTER",
        "logs_exporter",
        _exporters,
        "otlp_file, or otlp when an endpoint is set",
        "comma list of otlp, console, otlp_file, none",
        "Log record exporters",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "otlp_endpoint",
        _url,
        "none (http://localhost:4317 grpc, :4318 http)",
        "a URL",
        "OTLP endpoint for all signals (HTTP appends /v1/<signal>)",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "otlp_traces_endpoint",
        _url,
        "none",
        "a URL (used as is)",
        "OTLP endpoint for spans",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "otlp_metrics_endpoint",
        _url,
        "none",
        "a URL (used as is)",
        "OTLP endpoint for metrics",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "otlp_logs_endpoint",
        _url,
        "none",
        "a URL (used as is)",
        "OTLP endpoint for logs",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "otlp_protocol",
        _choice(PROTOCOLS),
        "grpc",
        "grpc, http/protobuf",
        "OTLP transport for all signals",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "otlp_traces_protocol",
        _choice(PROTOCOLS),
        "none (general protocol)",
        "grpc, http/protobuf",
        "OTLP transport for spans",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "otlp_metrics_protocol",
        _choice(PROTOCOLS),
        "none (general protocol)",
        "grpc, http/protobuf",
        "OTLP transport for metrics",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "otlp_logs_protocol",
        _choice(PROTOCOLS),
        "none (general protocol)",
        "grpc, http/protobuf",
        "OTLP transport for logs",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "otlp_headers",
        _key_values,
        "none",
        "comma list of key=value",
        "Headers sent with every OTLP request (masked in output)",
        secret=True,
    ),
    _v(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "otlp_traces_headers",
        _key_values,
        "none",
        "comma list of key=value",
        "Headers for span export",
        secret=True,
    ),
    _v(
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "otlp_metrics_headers",
        _key_values,
        "none",
        "comma list of key=value",
        "Headers for metric export",
        secret=True,
    ),
    _v(
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "otlp_logs_headers",
        _key_values,
        "none",
        "comma list of key=value",
        "Headers for log export",
        secret=True,
    ),
    _v(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "otlp_timeout_s",
        _number(0.001, 3600),
        "10",
        "seconds > 0 (the Python SDK reads seconds)",
        "Timeout of one OTLP export request",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "otlp_compression",
        _choice(COMPRESSIONS),
        "none",
        "gzip, deflate, none",
        "OTLP payload compression",
    ),
    _v(
        "OTEL_EXPORTER_OTLP_INSECURE",
        "otlp_insecure",
        _bool,
        "false (true for http:// endpoints)",
        _BOOLS,
        "gRPC without TLS",
    ),
    _v(
        "OTEL_METRIC_EXPORT_INTERVAL",
        "metric_export_interval_ms",
        _number(1, 86_400_000),
        "60000",
        "milliseconds >= 1",
        "Interval between metric exports",
    ),
    _v(
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "capture_message_content",
        _bool,
        "false",
        _BOOLS,
        "Put prompt and output text into telemetry",
    ),
    _v(
        "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
        "exception_signal",
        _choice(EXCEPTION_SIGNALS),
        "none (log record and span event)",
        "logs, logs/dup",
        "How exceptions are recorded: logs only, or logs plus span event",
    ),
)

_BY_FIELD: Final = {v.field: v for v in ENV_VARS}


def mask_url(url: str) -> str:
    """``url`` with its user-info secret and every query value replaced by ``***``.

    The secret is the password, or the user name when there is no password (a token put
    where the user goes, ``https://TOKEN@host``). Never raises, even for a malformed URL.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
    query = parts.query
    if query:
        query = "&".join(
            f"{k}=***" if sep else k for k, sep, _ in (q.partition("=") for q in query.split("&"))
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_secrets(url: str | None) -> set[str]:
    if not url:
        return set()
    parts = urllib.parse.urlsplit(url)
    found = {v for _, v in urllib.parse.parse_qsl(parts.query)}
    secret = parts.password if parts.password is not None else parts.username
    if secret:
        found |= {secret, urllib.parse.unquote(secret)}
    basic = _basic_auth(url)
    if basic:
        found |= {basic, basic.split(" ", 1)[1]}
    return found


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its user info, and that user info (``None`` when it has none)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    bare = urllib.parse.urlunsplit(
        (parts.scheme, hostport, parts.path, parts.query, parts.fragment)
    )
    return bare, userinfo


def _basic_auth(url: str) -> str | None:
    """``Basic <base64(user:password)>`` from the URL's user info, as curl and browsers do."""
    _, userinfo = _split_userinfo(url)
    if userinfo is None:
        return None
    user, _, password = userinfo.partition(":")
    raw = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")


def _check_signal(signal: object) -> None:
    if signal not in SIGNALS:
        raise InvalidInputError(
            f"invalid signal: expected one of {', '.join(SIGNALS)}, got {signal!r}",
            field="signal",
        )


@public
@dataclass(frozen=True, repr=False)
class Settings:
    """Every setting of hyperion-otel. Field names mirror the variables in ``ENV_VARS``.

    Secrets (OTLP header values, passwords and query values in endpoint URLs) never show in
    ``repr()``, ``masked()`` or configuration errors; ``redact(text)`` removes them from any
    text, such as an exporter's error message.
    """

    output_dir: str = "hyperion-output"
    log_level: str = "info"
    log_outputs: frozenset[str] = frozenset({"console", "file", "otlp"})
    log_file: str | None = None
    log_format: str = "json"
    log_console_format: str = "text"
    log_categories: frozenset[str] = frozenset(LOG_CATEGORIES)
    log_max_size_mb: float = 10.0
    log_max_files: int = 5
    log_compress: bool = True
    memory_tracking: bool = False
    memory_stack_traces: bool = False
    memory_stack_depth: int = 16
    memory_guard_pages: bool = False
    memory_check_corruption: bool = False
    memory_pool_initial_mb: float = 16.0
    memory_pool_max_mb: float | None = None
    profiling: bool = False
    profile_interval_ms: float = 1.0
    profile_output: str | None = None
    profile_max_samples: int = 200_000
    max_cpu_percent: float | None = None
    max_memory_mb: float | None = None
    max_threads: int | None = None
    generation_debug: bool = False
    shutdown_timeout_s: float = 2.0
    telemetry_file_max_mb: float = 100.0
    sdk_disabled: bool = False
    service_name: str | None = None
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    traces_exporter: tuple[str, ...] | None = None
    metrics_exporter: tuple[str, ...] | None = None
    logs_exporter: tuple[str, ...] | None = None
    otlp_endpoint: str | None = None
    otlp_traces_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_protocol: str = "grpc"
    otlp_traces_protocol: str | None = None
    otlp_metrics_protocol: str | None = None
    otlp_logs_protocol: str | None = None
    otlp_headers: Mapping[str, str] = field(default_factory=dict)
    otlp_traces_headers: Mapping[str, str] = field(default_factory=dict)
    otlp_metrics_headers: Mapping[str, str] = field(default_factory=dict)
    otlp_logs_headers: Mapping[str, str] = field(default_factory=dict)
    otlp_timeout_s: float = 10.0
    otlp_compression: str = "none"
    otlp_insecure: bool | None = None
    metric_export_interval_ms: float = 60_000.0
    prometheus_host: str = "localhost"
    prometheus_port: int = 9464
    capture_message_content: bool = False
    exception_signal: str | None = None

    def __post_init__(self) -> None:
        # Values set in code pass the same rules as their env var, and are normalised
        # (e.g. a list of outputs becomes a frozenset, "DEBUG" becomes "debug").
        for f in dataclasses.fields(self):
            value = _validate_field(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), then ``overrides`` on top.

        A bad value raises ``ConfigError`` naming the variable, the value and what is
        allowed; an unknown override name raises ``ConfigError`` too. Empty variables
        count as unset, as in the OTel SDK.
        """
        if environ is not None and not isinstance(environ, Mapping):
            raise ConfigError(f"Settings.from_env expects a mapping of variables, got {environ!r}")
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in ENV_VARS:
            raw = env.get(var.name)
            if raw is not None and raw.strip():
                values[var.field] = _parse_var(var, raw)
        _check_names(overrides)
        values.update(overrides)
        return cls(**values)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied (validated like the constructor)."""
        _check_names(overrides)
        return dataclasses.replace(self, **overrides)

    # --- derived values ---------------------------------------------------------------------
    def effective_log_file(self) -> str:
        return self.log_file or os.path.join(self.output_dir, "hyperion.log")

    def exporters_for(self, signal: str) -> tuple[str, ...]:
        """Exporters of ``signal``: explicit, else ``otlp`` with an endpoint, else local files."""
        _check_signal(signal)
        explicit: tuple[str, ...] | None = getattr(self, f"{signal}_exporter")
        if explicit is not None:
            return tuple(e for e in explicit if e != "none")
        if self.otlp_endpoint or getattr(self, f"otlp_{signal}_endpoint"):
            return ("otlp",)
        return ("otlp_file",)

    def protocol_for(self, signal: str) -> str:
        _check_signal(signal)
        p: str | None = getattr(self, f"otlp_{signal}_protocol")
        return p or self.otlp_protocol

    def headers_for(self, signal: str) -> dict[str, str]:
        """Headers of ``signal``'s OTLP requests: generic, then per-signal, then credentials.

        Credentials in the endpoint's user info (``http://user:password@host:4318``) become
        an HTTP Basic ``authorization`` header, unless the headers set one already (an
        explicit header wins). gRPC sends it as ``authorization`` metadata.
        """
        _check_signal(signal)
        per: Mapping[str, str] = getattr(self, f"otlp_{signal}_headers")
        headers = {**self.otlp_headers, **per}
        basic = _basic_auth(self._raw_endpoint_for(signal))
        if basic and not any(k.lower() == "authorization" for k in headers):
            headers["authorization"] = basic
        return headers

    def endpoint_for(self, signal: str) -> str:
        """The URL the OTLP exporter of ``signal`` sends to, resolved as the OTel SDK does.

        User info is not part of it: ``headers_for`` sends it as a header instead, so the
        exporter (and every line the OTel SDK logs about it) never sees the credentials.
        """
        _check_signal(signal)
        return _split_userinfo(self._raw_endpoint_for(signal))[0]

    def _raw_endpoint_for(self, signal: str) -> str:
        per: str | None = getattr(self, f"otlp_{signal}_endpoint")
        if per:
            return per
        grpc = self.protocol_for(signal) == "grpc"
        base = self.otlp_endpoint or ("http://localhost:4317" if grpc else "http://localhost:4318")
        return base if grpc else base.rstrip("/") + f"/v1/{signal}"

    def masked(self) -> dict[str, Any]:
        """All settings as plain values with secrets masked, for display."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            var = _BY_FIELD.get(f.name)
            if var is not None and var.secret and value:
                value = {k: "***" for k in value}
            elif f.name.endswith("endpoint") and value:
                value = mask_url(value)
            elif isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def secret_values(self) -> set[str]:
        """Every secret text in these settings (header values, URL passwords, query values)."""
        found: set[str] = set()
        for signal in ("", "traces_", "metrics_", "logs_"):
            headers: Mapping[str, str] = getattr(self, f"otlp_{signal}headers")
            found |= {v for v in headers.values() if v}
            found |= _url_secrets(getattr(self, f"otlp_{signal}endpoint"))
        return {v for v in found if len(v) >= 3}  # shorter values would mangle ordinary text

    def redact(self, text: str) -> str:
        """``text`` with every secret of these settings replaced by ``***``."""
        for secret in sorted(self.secret_values(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.masked().items())
        return f"Settings({shown})"


def _parse_var(var: EnvVar, raw: str) -> Any:
    try:
        return var.parse(raw)
    except ValueError as exc:
        shown = (
            "***" if var.secret else repr(mask_url(raw) if var.field.endswith("endpoint") else raw)
        )
        raise ConfigError(
            f"{var.name}={shown} is not valid: expected {exc}", variable=var.name, expected=str(exc)
        ) from None


def read_setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting from the environment alone (its default when unset).

    For code that must honour a variable without ``configure()`` (the GenAI content
    opt-in, the exception signal) yet should not parse every other variable to do so.
    """
    var = _BY_FIELD.get(name)
    if var is None:
        raise ConfigError(f"unknown setting {name!r}", setting=name)
    raw = (os.environ if environ is None else environ).get(var.name)
    if raw is None or not raw.strip():
        return next(f for f in dataclasses.fields(Settings) if f.name == name).default
    return _parse_var(var, raw)


def _check_names(overrides: Mapping[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(Settings)}
    for name in overrides:
        if name not in known:
            raise ConfigError(
                f"unknown setting {name!r}: expected one of {', '.join(sorted(known))}",
                setting=name,
            )


def _validate_field(name: str, value: Any) -> Any:
    """Check a typed value set in code with the rules of its env var; return it normalised."""
    var = _BY_FIELD.get(name)
    if var is None:
        return value
    if value is None:
        if _accepts_none(name):
            return None
        raise ConfigError(f"setting {name}=None is not valid: expected {var.allowed}", setting=name)
    text: str
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (frozenset, set, tuple, list)):
        text = ",".join(str(v) for v in value) or ("none" if name == "log_categories" else "")
    elif isinstance(value, Mapping):
        _validate_mapping(name, value)
        return dict(value)
    elif isinstance(value, str) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        text = str(value)
    else:
        raise ConfigError(
            f"setting {name}={value!r} is not valid: expected {var.allowed}", setting=name
        )
    try:
        parsed = var.parse(text)
    except ValueError as exc:
        raise ConfigError(
            f"setting {name}={value!r} is not valid: expected {exc}", setting=name
        ) from None
    if isinstance(value, bool) != isinstance(parsed, bool):
        raise ConfigError(
            f"setting {name}={value!r} is not valid: expected {var.allowed}", setting=name
        )
    return parsed


def _accepts_none(name: str) -> bool:
    default = next(f for f in dataclasses.fields(Settings) if f.name == name).default
    return default is None


def _validate_mapping(name: str, value: Mapping[str, Any]) -> None:
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            # Types only: the value may be a secret (an OTLP header).
            raise ConfigError(
                f"setting {name} has a {type(k).__name__} key with a {type(v).__name__} value: "
                "expected string keys and values",
                setting=name,
            )
