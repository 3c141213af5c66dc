"""Fixtures of the resource tests: tiny random checkpoints, and a check that every test
leaves the process as it found it (process-default limits, BLAS pools, allocator, metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import ThreadpoolController

from hyperion_otel._seams import allocator as _allocator, governor as _governor
from hyperion_otel.memory import shutdown_memory
from hyperion_otel.resources._process_metrics import process_metrics_enabled
from hyperion_otel.runtime import load_model
from hyperion_otel.runtime.model import Model

from runtime.checkpoints import GPT2_CFG, gpt2_weights, write_checkpoint

# Small enough to load in milliseconds, big enough that a decode step does real BLAS work.
SMALL: dict[str, Any] = {**GPT2_CFG, "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 1024}
# Activations of a long prefill are several MiB: enough to cross a tight memory limit.
WIDE: dict[str, Any] = {**GPT2_CFG, "n_embd": 256, "n_head": 4, "n_layer": 2, "n_positions": 2048}
# Many thin layers: a long prompt's KV cache, reserved inside the prefill, outgrows a tight
# limit before the (small) activations do, so the pool refuses inside the prefill span.
DEEP: dict[str, Any] = {**GPT2_CFG, "n_embd": 64, "n_head": 4, "n_layer": 24, "n_positions": 2048}


def blas_counts() -> list[int]:
    return [lib.num_threads for lib in ThreadpoolController().lib_controllers]


@pytest.fixture(autouse=True)
def _process_left_as_found() -> Iterator[None]:
    default = _governor.default()
    threads = blas_counts()
    allocator = _allocator.get_allocator()
    metrics_on = process_metrics_enabled()
    yield
    shutdown_memory()
    assert _governor.default() is default, "process-default limits were left set"
    assert blas_counts() == threads, "BLAS thread counts were left changed"
    assert _allocator.get_allocator() is allocator, "an allocator was left installed"
    assert process_metrics_enabled() == metrics_on, "process metrics were left enabled"


def _checkpoint(root: Path, name: str, cfg: dict[str, Any]) -> Path:
    return write_checkpoint(root / name, cfg, gpt2_weights(cfg), "F32", 1)


@pytest.fixture(scope="session")
def small_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "small", SMALL)


@pytest.fixture(scope="session")
def wide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "wide", WIDE)


@pytest.fixture(scope="session")
def deep_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "deep", DEEP)


@pytest.fixture
def model(small_path: Path) -> Model:
    """A fresh model (limits are per model object, so each test gets its own)."""
    return load_model(str(small_path))


@pytest.fixture
def wide_model(wide_path: Path) -> Model:
    return load_model(str(wide_path))
