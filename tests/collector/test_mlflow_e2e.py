"""End to end against a second real OTLP trace backend: MLflow 3 on 127.0.0.1.

The test starts ``mlflow server`` on a free port with a SQLite store in a temp dir,
creates an experiment, and runs a generate and a failing generate in separate
processes configured only by OTEL_* environment variables: traces over OTLP/HTTP to
``/v1/traces`` with the ``x-mlflow-experiment-id`` header. It reads them back with
``mlflow.search_traces`` and checks that the span tree, the gen_ai attributes, the
token usage and the error status survived MLflow's ingestion.

Needs ``pip install mlflow`` (3.x; ``.ci/run`` installs it); marked ``e2e`` so the
default run leaves it out: ``python -m pytest -m e2e tests/collector/test_mlflow_e2e.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_process import free_port, run_generate, server
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_svc

from hyperion_otel import semconv

# MLflow starts (imports, SQLite migrations) in 70-120 s here on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

STARTUP_TIMEOUT_S = 240.0
TRACE_TIMEOUT_S = 30.0
SERVICE = "hyperion-e2e-mlflow"


@dataclass(frozen=True)
class MLflow:
    port: int
    experiment_id: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def otel_env(self) -> dict[str, str]:
        """What a user sets to send traces to this MLflow experiment."""
        return {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{self.base_url}/v1/traces",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"x-mlflow-experiment-id={self.experiment_id}",
            "OTEL_SERVICE_NAME": SERVICE,
            # MLflow takes traces only.
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            # MLflow answers an export once it is in its store: 3-15 s per request on a
            # busy machine here, beyond the default 2 s shutdown budget and 10 s export
            # timeout (a miss of either is counted as lost even when the spans got in).
            "HYPERION_SHUTDOWN_TIMEOUT_S": "60",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "50",
        }


def _healthy(port: int) -> bool:
    with (
        contextlib.suppress(OSError, urllib.error.URLError),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp,
    ):
        return bool(resp.status == 200)
    return False


def _warm_up(backend: MLflow) -> None:
    """One span of its own trace: MLflow's first ingestion does lazy start-up work that
    can outlast the exporter's 10 s timeout; the runs below meet the steady state."""
    req = trace_svc.ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), "warm-up"
    span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns()
    request = urllib.request.Request(
        f"{backend.base_url}/v1/traces",
        data=req.SerializeToString(),
        headers={
            "Content-Type": "application/x-protobuf",
            "x-mlflow-experiment-id": backend.experiment_id,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        assert resp.status == 200


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflow]:
    if importlib.util.find_spec("mlflow") is None:
        pytest.fail(
            "mlflow is not installed; this end-to-end test needs it: "
            "pip install mlflow (.ci/run installs it before running -m e2e)"
        )
    import mlflow

    workdir = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))},
        # Loopback only: no usage telemetry leaves the machine.
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
        "--workers",
        "1",
    ]
    with server(argv, env, workdir / "mlflow.log", lambda: _healthy(port), STARTUP_TIMEOUT_S):
        client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        backend = MLflow(port, client.create_experiment("hyperion-e2e"))
        _warm_up(backend)
        yield backend


def read_trace(
    backend: MLflow, trace_id: str, n_spans: int, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The trace as ``mlflow.search_traces`` returns it, once ``n_spans`` spans are in."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", backend.base_url)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    assert mlflow.get_tracking_uri() == backend.base_url
    deadline = time.monotonic() + TRACE_TIMEOUT_S
    while True:
        traces = mlflow.search_traces(locations=[backend.experiment_id], return_type="list")
        found = [t for t in traces if t.info.trace_id == f"tr-{trace_id}"]
        if found and len(found[0].data.spans) >= n_spans:
            return found[0]
        assert time.monotonic() < deadline, f"trace {trace_id} not in MLflow: {found}"
        time.sleep(0.5)


def by_name(trace: Any) -> dict[str, Any]:
    spans = {s.name: s for s in trace.data.spans}
    assert len(spans) == len(trace.data.spans), [s.name for s in trace.data.spans]
    return spans


def check_request_attributes(attrs: dict[str, Any]) -> str:
    model: str = attrs[semconv.GEN_AI_REQUEST_MODEL]
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == semconv.GEN_AI_OPERATION_TEXT_COMPLETION
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == semconv.GEN_AI_PROVIDER_HYPERION
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 8
    assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0
    # No prompt or output text unless the user opts in.
    assert semconv.GEN_AI_INPUT_MESSAGES not in attrs
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attrs
    return model


def test_generate_trace_reaches_mlflow_with_tree_attributes_and_usage(
    mlflow_server: MLflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_generate(mlflow_server.otel_env(), tmp_path, "The mlflow run")
    assert result["lost"] == 0
    assert 1 <= result["output_tokens"] <= 8

    trace = read_trace(mlflow_server, result["trace_id"], 4, monkeypatch)
    assert trace.info.tags["service.name"] == SERVICE
    spans = by_name(trace)
    root = spans["e2e request"]
    (gen,) = [s for s in trace.data.spans if s.get_attribute(semconv.GEN_AI_OPERATION_NAME)]
    attrs = gen.attributes
    model = check_request_attributes(attrs)
    assert gen.name == f"{semconv.GEN_AI_OPERATION_TEXT_COMPLETION} {model}"
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == model
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == [result["finish_reason"]]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == result["output_tokens"]
    input_tokens = attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS]
    assert input_tokens > 0
    # MLflow reads the gen_ai usage into its own token usage, per span and per trace.
    usage = {"input_tokens": input_tokens, "output_tokens": result["output_tokens"]}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    assert json.loads(trace.info.trace_metadata["mlflow.trace.tokenUsage"]) == usage
    assert trace.info.token_usage == usage
    assert gen.status.status_code.value != "ERROR"
    assert trace.info.state.value == "OK"
    # The tree: the caller's span, the generate span under it, its phases under that.
    assert root.parent_id is None
    assert gen.parent_id == root.span_id
    phases = {semconv.SPAN_PREFILL, semconv.SPAN_DECODE}
    assert {s.name for s in trace.data.spans if s.parent_id == gen.span_id} == phases
    assert set(spans) == {"e2e request", gen.name} | phases
    for child in (spans[semconv.SPAN_PREFILL], spans[semconv.SPAN_DECODE]):
        assert gen.start_time_ns <= child.start_time_ns <= child.end_time_ns <= gen.end_time_ns


def test_failed_generate_reaches_mlflow_with_its_error_status(
    mlflow_server: MLflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_generate(mlflow_server.otel_env(), tmp_path, "--error")
    assert result["lost"] == 0
    assert result["error_type"] == "InvalidInputError"

    trace = read_trace(mlflow_server, result["trace_id"], 2, monkeypatch)
    spans = by_name(trace)
    root = spans["e2e request"]
    (gen,) = [s for s in trace.data.spans if s.get_attribute(semconv.GEN_AI_OPERATION_NAME)]
    check_request_attributes(gen.attributes)
    assert gen.parent_id == root.span_id
    assert set(spans) == {"e2e request", gen.name}  # it failed before prefill
    assert gen.status.status_code.value == "ERROR"
    assert gen.status.description and gen.status.description in result["error"]
    error_type = "hyperion_otel.errors.InvalidInputError"
    assert gen.attributes[semconv.ERROR_TYPE] == error_type
    (event,) = [e for e in gen.events if e.name == "exception"]
    assert event.attributes[semconv.EXCEPTION_TYPE] == error_type
    # str() of a HyperionError is "[TYPE] message"; the exception record keeps the message.
    assert result["error"].endswith(event.attributes[semconv.EXCEPTION_MESSAGE])
    assert "Traceback" in event.attributes[semconv.EXCEPTION_STACKTRACE]
    # The public call that raised marks the span current at the call, the caller's, too
    # (issue 16: ERROR status on the current span), even though the caller caught it.
    assert root.status.status_code.value == "ERROR"
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in gen.attributes
