"""Load time of one model in every supported file type: GGUF F32/F16/Q8_0 against safetensors.

The same random GPT-2-small-shaped weights (``benchmarks._gpt2_files``), written once and
cached, loaded with ``load_model`` round-robin (page cache warm for all), best of N each.
GGUF weights are upcast to float32 at load; the goal is each GGUF type within 1.5x of
the safetensors load of the same model.

    python benchmarks/bench_load.py [--quick] [--repeats N] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._gpt2_files import GGUF_TYPES, make_files
from hyperion_otel.runtime import get_model_info, load_model


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hyperion-otel" / "bench-models"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layers", type=int, default=12, help="layers of the GPT-2 shape")
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    t0 = time.perf_counter()
    files = make_files(
        args.cache_dir or default_cache_dir(), {"n_layer": args.layers, "vocab_size": args.vocab}
    )
    made_s = time.perf_counter() - t0
    kinds = ["safetensors", *GGUF_TYPES]
    for k in kinds:  # warm the page cache and the imports
        load_model(files[k])
        gc.collect()
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(repeats):
        for k in kinds:
            t = time.perf_counter()
            model = load_model(files[k])
            best[k] = min(best[k], time.perf_counter() - t)
            del model
            gc.collect()
    res: dict[str, Any] = {
        "load_s": best,
        "vs_safetensors": {k: best[k] / best["safetensors"] for k in GGUF_TYPES},
        "file_bytes": {k: _size(files[k]) for k in kinds},
        "repeats": repeats,
        "files_made_s": made_s,
    }
    info = get_model_info(files["Q8_0"])
    res["q8_0_loaded_bytes"] = info.loaded_bytes
    res["q8_0_upcast_bytes"] = info.upcast_bytes
    return res


def _size(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.iterdir())


def _table(res: dict[str, Any]) -> str:
    lines = ["| file | size MB | load s (best) | vs safetensors |", "|---|---:|---:|---:|"]
    for k, s in res["load_s"].items():
        vs = res["vs_safetensors"].get(k)
        lines.append(
            f"| {k} | {res['file_bytes'][k] / 1e6:.0f} | {s:.3f} | {f'{vs:.2f}x' if vs else ''} |"
        )
    return "\n".join(lines) + f"\n({res['repeats']} loads each, round-robin)"


if __name__ == "__main__":
    print(_table(main()))
