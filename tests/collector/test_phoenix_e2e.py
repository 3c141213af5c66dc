"""End to end against a real OTLP trace backend: Arize Phoenix on 127.0.0.1.

The test starts ``phoenix serve`` on free ports with its own working directory, runs a
generate in a separate process configured only by OTEL_* environment variables, once
with OTLP/HTTP and once with OTLP/gRPC, and reads the spans back from Phoenix's REST API
(``GET /v1/projects/default/spans``) to check the GenAI span and its attributes.

Needs ``pip install arize-phoenix`` (``.ci/run`` installs it); marked ``e2e`` so the
default run leaves it out: ``python -m pytest -m e2e tests/collector/test_phoenix_e2e.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_process import free_port, run_generate

from hyperion_otel import semconv

# Phoenix start-up (database migration) counts against the first test: more than the
# suite-wide 120 s per test when the machine is busy.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

STARTUP_TIMEOUT_S = 180.0  # Phoenix takes 10-30 s to migrate its database and start here
SPANS_TIMEOUT_S = 30.0
# The interpreter that runs the Phoenix server. Phoenix and MLflow (the other e2e backend)
# need different graphql-core releases, so .ci/run gives Phoenix a venv of its own; the
# test talks to it only over HTTP and gRPC.
PHOENIX_PYTHON = os.environ.get("HYPERION_TEST_PHOENIX_PYTHON") or sys.executable


@dataclass(frozen=True)
class Phoenix:
    http_port: int
    grpc_port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _ready(phoenix: Phoenix) -> bool:
    with contextlib.suppress(OSError, urllib.error.URLError):
        with urllib.request.urlopen(phoenix.base_url + "/healthz", timeout=2) as resp:
            if resp.status != 200:
                return False
        # The gRPC port opens a little after the HTTP one.
        with socket.create_connection(("127.0.0.1", phoenix.grpc_port), timeout=2):
            return True
    return False


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    probe = subprocess.run([PHOENIX_PYTHON, "-c", "import phoenix.server.main"], check=False)
    if probe.returncode != 0:
        pytest.fail(
            f"arize-phoenix does not import in {PHOENIX_PYTHON}; this end-to-end test needs "
            "it (.ci/run installs it in a venv of its own and sets HYPERION_TEST_PHOENIX_PYTHON)"
        )
    workdir = tmp_path_factory.mktemp("phoenix")
    ph = Phoenix(free_port(), free_port(), workdir / "phoenix.log")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PHOENIX_"))},
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(ph.http_port),
        "PHOENIX_GRPC_PORT": str(ph.grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
        # Loopback only: no usage telemetry, no external resources.
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    with ph.log.open("wb") as log:
        proc = subprocess.Popen(
            [PHOENIX_PYTHON, "-m", "phoenix.server.main", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _ready(ph):
            if proc.poll() is not None:
                pytest.fail(
                    f"phoenix serve exited with {proc.returncode}:\n{ph.log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"phoenix not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{ph.log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield ph
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run_phoenix_generate(
    endpoint: str, protocol: str, service: str, out_dir: Path
) -> dict[str, Any]:
    return run_generate(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": service,
            # Phoenix takes traces only (405 on /v1/metrics and /v1/logs).
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        },
        out_dir,
        f"The {service} run",
    )


def spans_of_trace(phoenix: Phoenix, trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans as Phoenix stores them, once the generate span has arrived."""
    deadline = time.monotonic() + SPANS_TIMEOUT_S
    while True:
        data = get_json(phoenix.base_url + "/v1/projects/default/spans?limit=1000")["data"]
        spans = [s for s in data if s["context"]["trace_id"] == trace_id]
        if any(s["attributes"].get(semconv.GEN_AI_OPERATION_NAME) for s in spans):
            return spans
        assert time.monotonic() < deadline, (
            f"no generate span of trace {trace_id} in Phoenix: {spans}"
        )
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("protocol", "port_attr"),
    [("http/protobuf", "http_port"), ("grpc", "grpc_port")],
    ids=["otlp-http", "otlp-grpc"],
)
def test_generate_spans_reach_phoenix_with_gen_ai_attributes(
    phoenix: Phoenix, tmp_path: Path, protocol: str, port_attr: str
) -> None:
    endpoint = f"http://127.0.0.1:{getattr(phoenix, port_attr)}"
    service = f"hyperion-e2e-{protocol.split('/', maxsplit=1)[0]}"
    result = run_phoenix_generate(endpoint, protocol, service, tmp_path)
    assert result["lost"] == 0
    assert 1 <= result["output_tokens"] <= 8

    spans = spans_of_trace(phoenix, result["trace_id"])
    by_id = {s["context"]["span_id"]: s for s in spans}
    (gen,) = [s for s in spans if s["attributes"].get(semconv.GEN_AI_OPERATION_NAME)]
    attrs = gen["attributes"]
    model = attrs[semconv.GEN_AI_REQUEST_MODEL]
    assert gen["name"] == f"{semconv.GEN_AI_OPERATION_TEXT_COMPLETION} {model}"
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == semconv.GEN_AI_OPERATION_TEXT_COMPLETION
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == semconv.GEN_AI_PROVIDER_HYPERION
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 8
    assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == result["output_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == [result["finish_reason"]]
    assert gen["status_code"] != "ERROR"
    # No prompt or output text unless the user opts in.
    assert semconv.GEN_AI_INPUT_MESSAGES not in attrs
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attrs
    # The generate span sits under the caller's span, its phases under it.
    assert by_id[gen["parent_id"]]["name"] == "e2e request"
    children = {s["name"] for s in spans if s["parent_id"] == gen["context"]["span_id"]}
    assert {semconv.SPAN_PREFILL, semconv.SPAN_DECODE} <= children
