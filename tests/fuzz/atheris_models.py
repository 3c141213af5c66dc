"""Coverage-guided fuzzing of the model loaders with atheris (libFuzzer), optional.

The first input byte picks what the rest of the input becomes (model.safetensors,
config.json, the shard index, tokenizer.json or a .gguf file); every case must keep the
contract of ``models.check_contract``. Seeds come from ``tests/data/corrupt_models``.

    pip install atheris
    python tests/fuzz/atheris_models.py -runs=20000 -max_len=8192

libFuzzer flags pass through (``-max_total_time=60``, ...). A crash writes the input to
``crash-*``; turn it into a corpus case in ``make_corpus.py``.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[2])]

with atheris.instrument_imports(include=["hyperion_otel"]):
    from fuzz.make_corpus import CORPUS, KINDS
    from fuzz.models import check_contract, write_checkpoint

_TARGETS = {
    "safetensors": "model.safetensors",
    "config": "config.json",
    "index": "model.safetensors.index.json",
    "tokenizer": "tokenizer.json",
}
_TMP = Path(tempfile.mkdtemp(prefix="hyperion-atheris-"))
atexit.register(shutil.rmtree, _TMP, True)


def one_input(data: bytes) -> None:
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    blob = data[1:]
    case = _TMP / "case"
    if kind == "gguf":
        path = _TMP / "model.gguf"
        path.write_bytes(blob)
    else:
        path = write_checkpoint(case)
        (path / _TARGETS[kind]).write_bytes(blob)
    check_contract(path, timeout_s=10.0)


def seeds(directory: Path) -> None:
    """Write every corpus file, prefixed with its kind byte, into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for f in CORPUS.rglob("*"):
        kind = f.parent.name
        if f.is_file() and kind in KINDS:
            (directory / f"{kind}-{f.name}").write_bytes(
                bytes([KINDS.index(kind)]) + f.read_bytes()
            )


def main() -> None:
    seed_dir = _TMP / "seeds"
    seeds(seed_dir)
    args = [sys.argv[0], *sys.argv[1:], str(seed_dir)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
