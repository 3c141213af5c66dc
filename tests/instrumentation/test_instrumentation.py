"""Zero-code instrumentation under `opentelemetry-instrument`, instrument()/uninstrument()
as exact inverses, and the library API with and without an SDK."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hyperion_otel import semconv
from hyperion_otel._seams import allocator as _allocator, ops as _ops
from hyperion_otel.api import op_span, record_allocation, record_tensor, traced_op
from hyperion_otel.sdk.instrumentation import HyperionInstrumentor
from hyperion_otel.settings import Settings
from hyperion_otel.testing import create_test_context

from runtime.checkpoints import LLAMA_CFG, llama_weights, write_checkpoint

GENERATE = """
import sys
from hyperion_otel.runtime import GenerationConfig, load_model
model = load_model(sys.argv[1])
gen = model.generate([1, 5, 7, 9], GenerationConfig(max_new_tokens=4, temperature=0))
print("generated", len(gen.token_ids))
"""


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "tiny-llama", LLAMA_CFG, llama_weights(LLAMA_CFG))


# The launcher installed beside this interpreter, not whichever comes first on PATH.
OTEL_INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))


def test_opentelemetry_instrument_zero_code(
    otlp_receiver, checkpoint: Path, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(GENERATE)
    env = {
        **os.environ,
        "OTEL_PYTHON_DISTRO": "hyperion",
        "OTEL_PYTHON_CONFIGURATOR": "hyperion",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "zero-code-app",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "HYPERION_MEMORY_TRACKING": "true",
        "HYPERION_OUTPUT_DIR": str(tmp_path / "out"),
        "HYPERION_LOG_OUTPUT": "file",
    }
    out = subprocess.run(
        [OTEL_INSTRUMENT, sys.executable, str(script), str(checkpoint)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "generated 4" in out.stdout
    spans = otlp_receiver.wait_for_spans(1, timeout=10)
    gen = [s for s in spans if s.name.startswith(semconv.GEN_AI_OPERATION_TEXT_COMPLETION)]
    assert gen, [s.name for s in spans]
    attrs = gen[0].attributes
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "hyperion"
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert gen[0].resource["service.name"] == "zero-code-app"
    otlp_receiver.wait_for_metric(semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION, timeout=10)
    otlp_receiver.wait_for_metric(semconv.METRIC_MEMORY_POOL_USAGE, timeout=10)


def _process_state() -> dict[str, object]:
    hyperion = logging.getLogger("hyperion")
    return {
        "handlers": list(hyperion.handlers),
        "level": hyperion.level,
        "propagate": hyperion.propagate,
        "allocator": _allocator.get_allocator(),
        "op_listeners": _ops._listeners,
        "profile": sys.getprofile(),
        "threads": {t for t in threading.enumerate() if not t.name.startswith("otlp-receiver")},
    }


def test_instrument_and_uninstrument_are_inverses(tmp_path: Path) -> None:
    before = _process_state()
    instrumentor = HyperionInstrumentor()
    settings = Settings(
        output_dir=str(tmp_path), memory_tracking=True, profiling=True, log_outputs=("file",)
    )
    instrumentor.instrument(settings=settings)
    try:
        during = _process_state()
        assert during["allocator"] is not before["allocator"]  # the pool is installed
        assert during["handlers"] != before["handlers"]  # the file handler is attached
        assert during["op_listeners"] != before["op_listeners"]  # the profiler listens
    finally:
        instrumentor.uninstrument()
    deadline = time.monotonic() + 3
    while _process_state() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _process_state() == before


@traced_op("lib.tokenize", batch=1)
def tokenize(text: str) -> list[int]:
    return list(text.encode())


def test_library_api_without_sdk_is_a_plain_call(reset_otel_globals) -> None:
    from hyperion_otel._seams import otel_private

    assert not otel_private.tracer_provider_is_set()
    assert tokenize("ab") == [97, 98]
    with op_span("lib.block") as span:
        record_tensor("x", np.zeros((2, 3), np.float32))
        record_allocation(128, site="lib.block")
    assert not span.get_span_context().is_valid


def test_library_api_with_sdk_produces_spans_events_and_errors() -> None:
    with create_test_context() as ctx:
        assert tokenize("abc") == [97, 98, 99]
        with op_span("lib.block", rows=3):
            record_tensor("logits", np.array([1.0, np.nan], np.float32), check_finite=True)
            record_allocation(256, site="lib.cache")
        with pytest.raises(KeyError), op_span("lib.failing"):
            raise KeyError("missing")
    tok = ctx.span("lib.tokenize")
    assert (
        tok.attributes[semconv.HYPERION_OP_NAME] == "lib.tokenize" and tok.attributes["batch"] == 1
    )
    block = ctx.span("lib.block")
    (tensor_event, alloc_event) = block.events
    assert tensor_event.attributes[semconv.HYPERION_TENSOR_SHAPE] == (2,)
    assert tensor_event.attributes[semconv.HYPERION_TENSOR_FINITE] is False
    assert alloc_event.attributes[semconv.HYPERION_ALLOCATION_BYTES] == 256
    assert ctx.metric_total(semconv.METRIC_LIBRARY_ALLOCATED) == 256
    failing = ctx.span("lib.failing")
    assert failing.status.status_code.name == "ERROR"
    assert failing.attributes[semconv.ERROR_TYPE]


def test_library_ops_reach_op_listeners_without_sdk(reset_otel_globals) -> None:
    seen: list[str] = []

    class Listener:
        def on_op_start(self, name, attrs):
            seen.append(name)

        def on_op_end(self, token):
            return None

    listener = Listener()
    _ops.add_listener(listener)
    try:
        tokenize("a")
    finally:
        _ops.remove_listener(listener)
    assert seen == ["lib.tokenize"]


def test_library_api_refuses_bad_arguments_by_name(reset_otel_globals) -> None:
    """Bad arguments are typed errors naming the value and what was expected, checked even
    with no SDK and nobody listening (when a wrong call would otherwise pass unseen)."""
    from hyperion_otel.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"write @traced_op\(\) with parentheses"):

        @traced_op  # type: ignore[arg-type]
        def bare() -> None: ...

    with pytest.raises(InvalidInputError, match=r"invalid rows: expected an attribute value"):
        op_span("lib.block", rows=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="invalid check_finite: expected a bool"):
        record_tensor("x", [1.0], check_finite="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="invalid nbytes: expected an int >= 0, got True"):
        record_allocation(True)
    with pytest.raises(InvalidInputError, match="invalid site: expected a non-empty str"):
        record_allocation(8, site="")
    with (
        create_test_context(),
        op_span("lib.block"),
        pytest.raises(InvalidInputError, match="invalid array: expected an array-like"),
    ):
        record_tensor("ragged", [[1.0], [1.0, 2.0]])
