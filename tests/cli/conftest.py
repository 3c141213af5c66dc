"""Fixtures for the command-line tests: a clean environment and tiny checkpoints."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.checkpoint import corrupt, write_tiny_llama


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No OTEL_*/HYPERION_* variables but HYPERION_OUTPUT_DIR=<tmp>/out; yields that path."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "HYPERION_")):
            monkeypatch.delenv(name)
    out = tmp_path / "out"
    monkeypatch.setenv("HYPERION_OUTPUT_DIR", str(out))
    yield out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def corrupt_model(tiny_model: Path, tmp_path: Path) -> Path:
    return corrupt(Path(shutil.copytree(tiny_model, tmp_path / "corrupt")))
