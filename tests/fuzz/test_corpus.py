"""Replays the corpus of corrupt model files (``tests/data/corrupt_models``): each one is
refused with a ``ModelError`` whose message names the defect, ``verify_model`` reports
the same problem without raising, and the fuzz contract holds (no hang, bounded memory).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fuzz.make_corpus import CORPUS
from fuzz.models import check_contract, write_checkpoint
from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import load_model, verify_model

MANIFEST: dict[str, str] = json.loads((CORPUS / "MANIFEST.json").read_text())


def _materialise(entry: str, tmp_path: Path) -> Path:
    kind, _name = entry.split("/", 1)
    blob = (CORPUS / entry).read_bytes()
    if kind == "gguf":
        path = tmp_path / "model.gguf"
        path.write_bytes(blob)
        return path
    if kind == "safetensors":
        return write_checkpoint(tmp_path / "ck", weights=blob)
    if kind == "config":
        return write_checkpoint(tmp_path / "ck", config=blob)
    path = write_checkpoint(tmp_path / "ck")
    target = {"index": "model.safetensors.index.json", "tokenizer": "tokenizer.json"}[kind]
    (path / target).write_bytes(blob)
    return path


def test_corpus_files_are_small_and_listed() -> None:
    on_disk = sorted(
        str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.json"
    )
    assert on_disk == sorted(MANIFEST)
    assert len(on_disk) >= 60
    assert all((CORPUS / f).stat().st_size <= 8 * 1024 for f in on_disk)


@pytest.mark.parametrize("entry", sorted(MANIFEST))
def test_corrupt_file_is_refused_with_a_clear_message(entry: str, tmp_path: Path) -> None:
    path = _materialise(entry, tmp_path)
    check_contract(path)
    with pytest.raises(ModelError) as info:
        load_model(path)
    pattern = MANIFEST[entry]
    assert re.search(pattern, info.value.message), info.value.message
    report = verify_model(path)
    assert not report.ok
    assert any(re.search(pattern, p) for p in report.problems), report.problems
