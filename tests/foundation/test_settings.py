"""Settings: every variable parses, bad values name the variable, precedence holds."""

from __future__ import annotations

import dataclasses

import pytest

from hyperion_otel import ConfigError, ErrorType
from hyperion_otel.settings import ENV_VARS, Settings

# A valid and an invalid text for every variable, so no variable goes untested.
GOOD_AND_BAD: dict[str, tuple[str, object, str]] = {
    "HYPERION_OUTPUT_DIR": ("/tmp/out", "/tmp/out", ""),
    "HYPERION_LOG_LEVEL": ("WARNING", "warn", "loud"),
    "HYPERION_LOG_OUTPUT": ("console, otlp", frozenset({"console", "otlp"}), "console,syslog"),
    "HYPERION_LOG_FILE": ("/var/log/h.log", "/var/log/h.log", ""),
    "HYPERION_LOG_FORMAT": ("text", "text", "xml"),
    "HYPERION_LOG_CONSOLE_FORMAT": ("json", "json", "yaml"),
    "HYPERION_LOG_CATEGORIES": ("none", frozenset(), "memory,gpu"),
    "HYPERION_LOG_MAX_SIZE_MB": ("0.5", 0.5, "-1"),
    "HYPERION_LOG_MAX_FILES": ("3", 3, "2.5"),
    "HYPERION_LOG_COMPRESS": ("off", False, "maybe"),
    "HYPERION_MEMORY_TRACKING": ("YES", True, "2"),
    "HYPERION_MEMORY_STACK_TRACES": ("1", True, "y"),
    "HYPERION_MEMORY_STACK_DEPTH": ("32", 32, "0"),
    "HYPERION_MEMORY_GUARD_PAGES": ("on", True, "enabled"),
    "HYPERION_MEMORY_CHECK_CORRUPTION": ("true", True, "truthy"),
    "HYPERION_MEMORY_POOL_INITIAL_MB": ("0", 0.0, "lots"),
    "HYPERION_MEMORY_POOL_MAX_MB": ("none", None, "-5"),
    "HYPERION_PROFILING": ("false", False, "sometimes"),
    "HYPERION_PROFILE_INTERVAL_MS": ("0.5", 0.5, "0"),
    "HYPERION_PROFILE_OUTPUT": ("p.json", "p.json", ""),
    "HYPERION_PROFILE_MAX_SAMPLES": ("1000", 1000, "-3"),
    "HYPERION_MAX_CPU_PERCENT": ("50", 50.0, "0"),
    "HYPERION_MAX_MEMORY_MB": ("512", 512.0, "nan"),
    "HYPERION_MAX_THREADS": ("2", 2, "two"),
    "HYPERION_GENERATION_DEBUG": ("TRUE", True, "debug"),
    "HYPERION_SHUTDOWN_TIMEOUT_S": ("0.5", 0.5, "-1"),
    "HYPERION_TELEMETRY_FILE_MAX_MB": ("5", 5.0, "0"),
    "OTEL_SDK_DISABLED": ("true", True, "disabled"),
    "OTEL_SERVICE_NAME": ("svc", "svc", ""),
    "OTEL_RESOURCE_ATTRIBUTES": ("a=1,b=x%20y", {"a": "1", "b": "x y"}, "novalue"),
    "OTEL_TRACES_EXPORTER": ("otlp,console", ("otlp", "console"), "jaeger"),
    "OTEL_METRICS_EXPORTER": ("prometheus,otlp", ("prometheus", "otlp"), "none,otlp"),
    "OTEL_LOGS_EXPORTER": ("otlp_file", ("otlp_file",), "zipkin"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("http://c:4317", "http://c:4317", "not a url"),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("http://c/v1/traces", "http://c/v1/traces", "not a url"),
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ("http://c/m", "http://c/m", "not a url"),
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": ("http://c/l", "http://c/l", "not a url"),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("http/protobuf", "http/protobuf", "http/json"),
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": ("grpc", "grpc", "thrift"),
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": ("grpc", "grpc", "udp"),
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": ("http/protobuf", "http/protobuf", "tcp"),
    "OTEL_EXPORTER_OTLP_HEADERS": ("api-key=s3cr3t", {"api-key": "s3cr3t"}, "s3cr3t-token"),
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": ("a=b", {"a": "b"}, "=b"),
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS": ("a=b", {"a": "b"}, "ab"),
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS": ("a=b", {"a": "b"}, "ab"),
    "OTEL_EXPORTER_OTLP_TIMEOUT": ("2.5", 2.5, "0"),
    "OTEL_EXPORTER_OTLP_COMPRESSION": ("gzip", "gzip", "zstd"),
    "OTEL_EXPORTER_OTLP_INSECURE": ("true", True, "insecure"),
    "OTEL_METRIC_EXPORT_INTERVAL": ("1000", 1000.0, "-1"),
    "OTEL_EXPORTER_PROMETHEUS_HOST": ("0.0.0.0", "0.0.0.0", "http://host:9464"),
    "OTEL_EXPORTER_PROMETHEUS_PORT": ("9465", 9465, "70000"),
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": ("true", True, "all"),
    "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN": ("logs/dup", "logs/dup", "events"),
}


def test_every_variable_has_a_case() -> None:
    assert {v.name for v in ENV_VARS} == set(GOOD_AND_BAD)


@pytest.mark.parametrize("var", ENV_VARS, ids=lambda v: v.name)
def test_good_value_parses(var) -> None:
    text, expected, _ = GOOD_AND_BAD[var.name]
    settings = Settings.from_env({var.name: text})
    assert getattr(settings, var.field) == expected


@pytest.mark.parametrize(
    "var", [v for v in ENV_VARS if GOOD_AND_BAD[v.name][2]], ids=lambda v: v.name
)
def test_bad_value_names_variable_value_and_allowed(var) -> None:
    bad = GOOD_AND_BAD[var.name][2]
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var.name: bad})
    err = info.value
    assert err.type is ErrorType.CONFIG
    assert var.name in str(err)
    assert "expected" in str(err)
    if var.secret:
        assert bad not in str(err), "secrets must be masked in errors"
    else:
        assert repr(bad) in str(err)


def test_empty_variable_counts_as_unset() -> None:
    assert Settings.from_env({"HYPERION_LOG_LEVEL": " "}).log_level == "info"


def test_defaults_without_environment() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.exporters_for("traces") == ("otlp_file",)
    assert s.shutdown_timeout_s == 2.0
    assert s.effective_log_file().endswith("hyperion-output/hyperion.log")


def test_argument_beats_environment_beats_default() -> None:
    env = {"HYPERION_LOG_LEVEL": "debug", "HYPERION_MAX_THREADS": "4"}
    s = Settings.from_env(env, log_level="error")
    assert s.log_level == "error"  # argument
    assert s.max_threads == 4  # environment
    assert s.log_max_files == 5  # default


def test_values_set_in_code_are_validated_and_normalised() -> None:
    assert Settings(log_outputs=["file"], log_level="WARNING").log_outputs == frozenset({"file"})
    with pytest.raises(ConfigError, match="max_threads"):
        Settings(max_threads=1.5)
    with pytest.raises(ConfigError, match="profiling"):
        Settings(profiling="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown setting 'log_levle'"):
        Settings.from_env({}, log_levle="debug")


def test_endpoint_resolution_follows_the_otel_sdk() -> None:
    http = Settings(otlp_endpoint="http://c:4318/", otlp_protocol="http/protobuf")
    assert http.endpoint_for("logs") == "http://c:4318/v1/logs"
    grpc = Settings(otlp_endpoint="http://c:4317")
    assert grpc.endpoint_for("traces") == "http://c:4317"
    per_signal = Settings(
        otlp_endpoint="http://c:4318",
        otlp_traces_endpoint="http://t/x",
        otlp_protocol="http/protobuf",
    )
    assert per_signal.endpoint_for("traces") == "http://t/x"
    assert per_signal.exporters_for("metrics") == ("otlp",)
    assert Settings(traces_exporter=("none",)).exporters_for("traces") == ()


def test_masked_hides_header_values() -> None:
    s = Settings.from_env({"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t"})
    shown = s.masked()
    assert shown["otlp_headers"] == {"api-key": "***"}
    assert "s3cr3t" not in repr(shown)


def test_settings_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().log_level = "debug"  # type: ignore[misc]
