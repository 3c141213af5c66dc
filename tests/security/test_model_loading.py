"""Model loading never unpickles, and the shard index cannot make the loader read
outside the checkpoint directory.

Both are checked from the outside, in a child interpreter with an audit hook: Python
raises ``pickle.find_class`` whenever an unpickler resolves a global (which any
malicious pickle must do) and ``open`` for every file opened from Python (the loader
reads every safetensors header through Python before any tensor).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fuzz.models import CONFIG, header_and_data, safetensors_bytes, tensors, write_checkpoint

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import load_model

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "hyperion_otel"

_PROBE = r"""
import json, os, sys
sys.path.insert(0, {repo!r})
watched = {watched!r}
seen = {{"find_class": [], "opened": []}}
def hook(event, args):
    if event == "pickle.find_class":
        seen["find_class"].append(repr(args))
    elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        p = os.fsdecode(args[0])
        if watched and p.startswith(watched):
            seen["opened"].append(p)
sys.addaudithook(hook)
from hyperion_otel.errors import HyperionError
from hyperion_otel.runtime import get_model_info, load_model, verify_model
results = {{}}
for target in {targets!r}:
    row = []
    for fn in (load_model, get_model_info):
        try:
            fn(target)
            row.append("loaded")
        except HyperionError as exc:
            row.append(type(exc).__name__ + ": " + exc.message)
    report = verify_model(target)
    row.append("ok" if report.ok else "problems: " + "; ".join(report.problems))
    results[target] = row
seen["results"] = results
seen["modules"] = sorted(m for m in sys.modules if m in ("torch", "joblib", "dill") or m.endswith(".train"))
print(json.dumps(seen))
"""


def _probe(targets: list[Path], watched: Path | None = None) -> dict[str, Any]:
    code = _PROBE.format(
        repo=str(REPO), watched=str(watched) if watched else "", targets=[str(t) for t in targets]
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class _Payload:
    """Unpickling this creates ``marker``: proof that something unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def test_pickled_checkpoints_are_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "UNPICKLED"
    evil = pickle.dumps({"model.norm.weight": _Payload(str(marker))})
    targets = []
    for name in ("pytorch_model.bin", "model.pt", "model.pth", "model.pkl", "consolidated.00.pth"):
        d = tmp_path / name.replace(".", "_")
        d.mkdir()
        (d / "config.json").write_text(json.dumps(CONFIG))
        (d / name).write_bytes(evil)
        targets.append(d)
    # A pickle disguised under every name the loader does read.
    targets.append(write_checkpoint(tmp_path / "as-safetensors", weights=evil))
    index_dir = write_checkpoint(tmp_path / "as-shard")
    (index_dir / "pytorch_model.bin").write_bytes(evil)
    (index_dir / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": dict.fromkeys(tensors(), "pytorch_model.bin")})
    )
    targets.append(index_dir)
    tok_dir = write_checkpoint(tmp_path / "as-tokenizer")
    (tok_dir / "tokenizer.json").write_bytes(evil)
    targets.append(tok_dir)
    (tmp_path / "as.gguf").write_bytes(evil)
    targets.append(tmp_path / "as.gguf")
    (tmp_path / "config-pickle").mkdir()
    (tmp_path / "config-pickle" / "config.json").write_bytes(evil)
    targets.append(tmp_path / "config-pickle")

    seen = _probe(targets)
    assert seen["find_class"] == []  # no unpickler ever resolved a global
    assert not marker.exists()
    assert seen["modules"] == []  # torch, joblib, dill, the training script: never imported
    # (the pickle module itself is imported by numpy; find_class above is what matters)
    for target, (load, info, verify) in seen["results"].items():
        assert load.startswith("ModelError") and info.startswith("ModelError"), (target, load, info)
        assert verify.startswith("problems"), (target, verify)
    # The pickle-only directories say why, by name.
    assert "pickled weights are never loaded" in seen["results"][str(targets[0])][0]


_UNPICKLERS = re.compile(
    r"\bimport (pickle|cPickle|dill|joblib|shelve|marshal)\b|\bfrom (pickle|dill|joblib) import|"
    r"torch\.load|(np|numpy)\.load\(|allow_pickle|pickle\.loads?\(|Unpickler"
)


def test_no_unpickling_code_in_the_package() -> None:
    """Static guard: no module can unpickle (the built-in model's training script, run by
    hand with torch and never imported by the package, is the one exception)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel == "hyperion_otel/runtime/builtin/train.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _UNPICKLERS.search(code):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def _outside_and_checkpoint(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A sibling ``secret`` directory holding a *valid* shard (so reading it would work),
    and a checkpoint whose second shard is missing; returns them and its weight map."""
    names = sorted(tensors())
    first, second = names[: len(names) // 2], names[len(names) // 2 :]
    secret = tmp_path / "secret"
    secret.mkdir()
    header, data = header_and_data({n: tensors()[n] for n in second})
    (secret / "model-00002.safetensors").write_bytes(safetensors_bytes(header, data))
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps(CONFIG))
    header, data = header_and_data({n: tensors()[n] for n in first})
    (ck / "model-00001.safetensors").write_bytes(safetensors_bytes(header, data))
    wmap = {
        **dict.fromkeys(first, "model-00001.safetensors"),
        **dict.fromkeys(second, "model-00002.safetensors"),
    }
    return secret, ck, wmap


ESCAPES = [
    "../secret/model-00002.safetensors",
    "{secret}/model-00002.safetensors",
    "sub/../../secret/model-00002.safetensors",
    "./../secret/model-00002.safetensors",
    "..//secret//model-00002.safetensors",
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_index_cannot_make_the_loader_read_outside(tmp_path: Path, escape: str) -> None:
    secret, ck, wmap = _outside_and_checkpoint(tmp_path)
    shard = escape.format(secret=secret)
    (ck / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "weight_map": {
                    n: (shard if f.endswith("00002.safetensors") else f) for n, f in wmap.items()
                }
            }
        )
    )
    (ck / "sub").mkdir()
    seen = _probe([ck], watched=secret)
    assert seen["opened"] == []  # not one open() below the secret directory
    load, info, verify = seen["results"][str(ck)]
    assert "outside the checkpoint directory" in load and "outside the checkpoint directory" in info
    assert "outside the checkpoint directory" in verify
    with pytest.raises(ModelError, match="outside the checkpoint directory"):
        load_model(ck)


def test_the_same_shard_inside_the_directory_loads(tmp_path: Path) -> None:
    """Control for the test above: with the shard moved inside, the checkpoint loads."""
    secret, ck, wmap = _outside_and_checkpoint(tmp_path)
    os.replace(secret / "model-00002.safetensors", ck / "model-00002.safetensors")
    (ck / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wmap}))
    assert load_model(ck).forward([1, 2, 3]).shape == (3, CONFIG["vocab_size"])


def test_sharded_checkpoint_in_the_hugging_face_cache_layout_loads(tmp_path: Path) -> None:
    _secret, ck, wmap = _outside_and_checkpoint(tmp_path)
    repo = tmp_path / "models--org--tiny"
    blobs, snap = repo / "blobs", repo / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    os.replace(_secret / "model-00002.safetensors", ck / "model-00002.safetensors")
    for f in ("config.json", "model-00001.safetensors", "model-00002.safetensors"):
        os.replace(ck / f, blobs / f"sha-{f}")
        (snap / f).symlink_to(f"../../blobs/sha-{f}")
    (snap / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wmap}))
    assert load_model(snap).forward([1]).shape == (1, CONFIG["vocab_size"])
