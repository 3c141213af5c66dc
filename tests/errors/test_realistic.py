"""Each error type from a realistic path, and what it leaves in telemetry.

Paths: missing or corrupt model -> MODEL (runtime), bad generation config -> INVALID_INPUT
(runtime), bad environment -> CONFIG (settings), pool budget -> MEMORY (memory pool).
An application that wraps its request handler in ``error_boundary()`` gets every one of
them as span status + ``error.type`` + exception log record + ``hyperion.errors`` count,
and in ``get_last_error()`` on that thread only.
"""

from __future__ import annotations

import json
import linecache
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.trace import StatusCode
from safetensors.numpy import save_file

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import (
    ConfigError,
    ErrorType,
    HyperionError,
    HyperionMemoryError,
    InvalidInputError,
    ModelError,
    error_boundary,
    get_last_error,
)

from .conftest import Capture

RUNTIME_DIR = str(Path(__file__).resolve().parents[2] / "hyperion_otel" / "runtime")


def _tiny_gpt2(path: Path, vocab: int = 16, d: int = 8, positions: int = 12) -> Path:
    """A one-layer random GPT-2 checkpoint in HF layout (no tokenizer: prompts are ids)."""
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    weights = {"wte.weight": r(vocab, d), "wpe.weight": r(positions, d)}
    for name, shape in {
        "ln_1.weight": (d,),
        "ln_1.bias": (d,),
        "ln_2.weight": (d,),
        "ln_2.bias": (d,),
        "attn.c_attn.weight": (d, 3 * d),
        "attn.c_attn.bias": (3 * d,),
        "attn.c_proj.weight": (d, d),
        "attn.c_proj.bias": (d,),
        "mlp.c_fc.weight": (d, 4 * d),
        "mlp.c_fc.bias": (4 * d,),
        "mlp.c_proj.weight": (4 * d, d),
        "mlp.c_proj.bias": (d,),
    }.items():
        weights[f"h.0.{name}"] = r(*shape)
    weights["ln_f.weight"], weights["ln_f.bias"] = r(d), r(d)
    path.mkdir()
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_embd": d,
        "n_head": 2,
        "n_layer": 1,
        "n_positions": positions,
        "layer_norm_epsilon": 1e-5,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    (path / "config.json").write_text(json.dumps(config))
    save_file(weights, str(path / "model.safetensors"))
    return path


@pytest.fixture
def model(tmp_path: Path) -> Any:
    from hyperion_otel.runtime import load_model

    return load_model(_tiny_gpt2(tmp_path / "tiny"))


@pytest.fixture
def no_pool() -> Iterator[None]:
    from hyperion_otel.memory import shutdown_memory

    yield
    shutdown_memory()


def _missing_model(tmp_path: Path) -> None:
    from hyperion_otel.runtime import load_model

    load_model(tmp_path / "no-such-model")


def _corrupt_model(tmp_path: Path) -> None:
    from hyperion_otel.runtime import load_model

    broken = _tiny_gpt2(tmp_path / "broken")
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated download
    load_model(broken)


def _bad_generation_config(tmp_path: Path) -> None:
    from hyperion_otel.runtime import GenerationConfig

    GenerationConfig(temperature=-0.5)


def _bad_environment(tmp_path: Path) -> None:
    from hyperion_otel.settings import Settings

    Settings.from_env({"HYPERION_LOG_LEVEL": "loud"})


def _pool_budget(tmp_path: Path) -> None:
    from hyperion_otel.memory import MemoryConfig, init_memory

    pool = init_memory(MemoryConfig(initial_pool_size=0, max_pool_size=1 << 20))
    pool.allocate((1 << 20,), np.float32)  # 4 MiB against a 1 MiB budget


PATHS: list[tuple[Callable[[Path], None], type[HyperionError], ErrorType, tuple[str, ...]]] = [
    (_missing_model, ModelError, ErrorType.MODEL, ("no-such-model", "no such file or directory")),
    (_corrupt_model, ModelError, ErrorType.MODEL, ("model.safetensors",)),
    (
        _bad_generation_config,
        InvalidInputError,
        ErrorType.INVALID_INPUT,
        ("temperature", "-0.5", ">= 0"),
    ),
    (
        _bad_environment,
        ConfigError,
        ErrorType.CONFIG,
        ("HYPERION_LOG_LEVEL", "'loud'", "trace, debug"),
    ),
    (_pool_budget, HyperionMemoryError, ErrorType.MEMORY, ("budget", "4194304", "1048576")),
]
IDS = ["missing-model", "corrupt-model", "bad-generation-config", "bad-env", "pool-budget"]


@pytest.mark.parametrize(("path", "cls", "etype", "names"), PATHS, ids=IDS)
def test_realistic_failure_raises_the_typed_error_naming_the_bad_value(
    tmp_path: Path,
    no_pool: None,
    path: Any,
    cls: type[HyperionError],
    etype: ErrorType,
    names: tuple[str, ...],
) -> None:
    with pytest.raises(cls) as info:
        path(tmp_path)
    err = info.value
    assert err.type is etype
    for needle in names:
        assert needle in str(err)
    assert "\n" not in str(err)
    assert linecache.getline(err.file, err.line).strip(), "location must point at a real line"


@pytest.mark.parametrize(("path", "cls", "etype", "names"), PATHS, ids=IDS)
def test_realistic_failure_through_an_application_boundary_is_in_telemetry(
    capture: Capture,
    tmp_path: Path,
    no_pool: None,
    path: Any,
    cls: type[HyperionError],
    etype: ErrorType,
    names: tuple[str, ...],
) -> None:
    fqn = f"{cls.__module__}.{cls.__qualname__}"

    @error_boundary()
    def handle_request() -> None:
        with (
            _telemetry.tracer().start_as_current_span(
                "handle_request", record_exception=False, set_status_on_exception=False
            ),
            error_boundary(),
        ):
            path(tmp_path)

    with pytest.raises(cls) as info:
        handle_request()
    err = info.value

    span = capture.span("handle_request")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == fqn
    assert span.attributes[semconv.HYPERION_ERROR_CATEGORY] == etype.value
    logs = [
        r.log_record
        for r in capture.logs()
        if (r.log_record.attributes or {}).get(semconv.ERROR_TYPE) == fqn
    ]
    assert len(logs) == 1
    assert logs[0].attributes[semconv.CODE_FILE_PATH] == err.file
    assert logs[0].attributes[semconv.CODE_LINE_NUMBER] == err.line
    # Recorded once, where it arose: the innermost span the error escaped (the runtime's
    # own span when the runtime raised it), in the request's trace.
    assert logs[0].trace_id == span.context.trace_id
    origin = next(s for s in capture.spans() if s.context.span_id == logs[0].span_id)
    assert origin.status.status_code is StatusCode.ERROR
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.ERROR_TYPE: fqn}) == 1
    assert get_last_error() is err
    other: list[Any] = []
    t = threading.Thread(target=lambda: other.append(get_last_error()))
    t.start()
    t.join()
    assert other == [None]


def test_model_error_points_into_the_runtime(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        _missing_model(tmp_path)
    err = info.value
    assert err.file.startswith(RUNTIME_DIR)
    assert "ModelError(" in linecache.getline(err.file, err.line)


def test_bad_prompt_in_generate_is_invalid_input(model: Any) -> None:
    from hyperion_otel.runtime import GenerationConfig

    config = GenerationConfig(temperature=0, max_new_tokens=2)
    with pytest.raises(InvalidInputError, match="99"):
        model.generate([1, 99], config)  # 99 is outside the vocab of 16
    with pytest.raises(InvalidInputError, match="GenerationConfig"):
        model.generate([1, 2], {"temperature": 0})


def test_runtime_spans_carry_status_for_its_own_failures(capture: Capture, tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        _missing_model(tmp_path)
    span = capture.span(semconv.SPAN_MODEL_LOAD)
    assert span.status.status_code is StatusCode.ERROR
    assert semconv.ERROR_TYPE in span.attributes


def test_runtime_records_its_own_failures_without_an_application_boundary(
    capture: Capture, tmp_path: Path
) -> None:
    with pytest.raises(ModelError) as info:
        _missing_model(tmp_path)
    span = capture.span(semconv.SPAN_MODEL_LOAD)
    assert span.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.ModelError"
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.HYPERION_ERROR_CATEGORY: "model"}) == 1
    (log,) = [
        r.log_record
        for r in capture.logs()
        if semconv.EXCEPTION_TYPE in (r.log_record.attributes or {})
    ]
    assert log.span_id == span.context.span_id
    assert get_last_error() is info.value
