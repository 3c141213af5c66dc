"""Replays the corpus of corrupt model files (``tests/data/corrupt_models``): each one is
refused with a ``ModelError`` whose message names the defect, ``verify_model`` reports
the same problem without raising, and the fuzz contract holds (no hang, bounded memory).
"""

from __future__ import annotations

import contextlib
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
    tmp_path.mkdir(parents=True, exist_ok=True)
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
        str(p.relative_to(CORPUS))
        for p in CORPUS.rglob("*")
        if p.is_file() and p.name not in ("MANIFEST.json", "README.md")
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


def test_repeated_loads_of_good_and_corrupt_files_do_not_leak(tmp_path: Path) -> None:
    """RSS stays flat over hundreds of loads (a leak per load would show in long-running
    services that verify or reload models)."""
    import gc

    import psutil

    from fuzz.models import write_gguf
    from hyperion_otel.runtime import get_model_info

    paths = [
        write_checkpoint(tmp_path / "good"),
        write_gguf(tmp_path / "good.gguf") and tmp_path / "good.gguf",
        *(
            _materialise(e, tmp_path / e.replace("/", "-"))
            for e in (
                "safetensors/nan-weights.safetensors",
                "config/layers-huge.json",
                "index/dotdot.json",
                "gguf/wrong-shape.gguf",
                "tokenizer/not-json.json",
            )
        ),
    ]

    def round_() -> None:
        for p in paths:
            for fn in (load_model, get_model_info):
                with contextlib.suppress(ModelError):
                    fn(p)
            verify_model(p)

    proc = psutil.Process()
    for _ in range(5):  # warm caches and allocator pools
        round_()
    gc.collect()
    before = proc.memory_info().rss
    for _ in range(40):
        round_()
    gc.collect()
    growth = proc.memory_info().rss - before
    print(f"\nRSS growth over {40 * len(paths) * 3} loads: {growth / 2**20:.2f} MiB")
    assert growth < 8 * 2**20, growth  # about 10 KB per load at most
