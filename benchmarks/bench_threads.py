"""BLAS threads by default against every fixed thread count: TTFT and decode speed.

On ``builtin:tiny`` and a random GPT-2-small-shaped model, idle and beside two busy-loop
processes (started here, one per core on 2 cores, stopped at the end). Modes, interleaved
round-robin in one process so load changes hit each alike:

- ``default``: the runtime's own choice (``hyperion_otel._seams.blas``: one thread for
  small products, the free cores for large ones);
- ``fixed N``: every product on N threads (the choice turned off, the pools set to N),
  which is what the runtime did before.

The goal: with defaults, TTFT and decode tok/s within 10% of the best fixed count.

    python benchmarks/bench_threads.py [--quick] [--repeats N] [--new-tokens N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hyperion_otel._seams import blas as _blas_threads
from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.model import Model

# A busy loop that stops by itself: after MAX_BUSY_S, or as soon as its parent is gone
# (so a benchmark killed by a timeout leaves nothing spinning).
MAX_BUSY_S = 900
BUSY = (
    "import os, time\n"
    "parent, end = os.getppid(), time.monotonic() + {limit}\n"
    "while os.getppid() == parent and time.monotonic() < end:\n"
    "    pass\n"
)


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` CPU-bound processes for the duration (each stopped by its own pid)."""
    code = BUSY.format(limit=MAX_BUSY_S)
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them start spinning and the load window see them
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


@contextlib.contextmanager
def mode(name: str, cores: int) -> Iterator[None]:
    if name == "default":
        yield
        return
    n = int(name.split()[1])
    use = _blas_threads.use
    _blas_threads.use = lambda macs: None  # type: ignore[assignment] - the old behaviour
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        _blas_threads.use = use  # type: ignore[assignment]


def one_run(model: Model, prompt: list[int], new: int) -> tuple[float, float]:
    g = model.generate(prompt, GenerationConfig(temperature=0.0, max_new_tokens=new))
    decode_s = g.timings.total_s - g.timings.ttft_s
    return g.timings.ttft_s, (len(g.token_ids) - 1) / decode_s


def measure(
    model: Model, prompt: list[int], new: int, modes: Sequence[str], repeats: int, cores: int
) -> dict[str, dict[str, float]]:
    ttft: dict[str, list[float]] = {m: [] for m in modes}
    tps: dict[str, list[float]] = {m: [] for m in modes}
    for m in modes:  # warm up: BLAS threads, page faults
        with mode(m, cores):
            one_run(model, prompt, 4)
    for _ in range(repeats):
        for m in modes:
            with mode(m, cores):
                a, b = one_run(model, prompt, new)
            ttft[m].append(a)
            tps[m].append(b)
    out = {
        m: {"ttft_ms": 1e3 * statistics.median(ttft[m]), "tok_s": statistics.median(tps[m])}
        for m in modes
    }
    fixed = [m for m in modes if m != "default"]
    best_ttft = min(out[m]["ttft_ms"] for m in fixed)
    best_tps = max(out[m]["tok_s"] for m in fixed)
    out["default"]["ttft_vs_best"] = out["default"]["ttft_ms"] / best_ttft
    out["default"]["tok_s_vs_best"] = out["default"]["tok_s"] / best_tps
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats, fewer tokens")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--models", default="tiny,gpt2", help="comma list of: tiny, gpt2")
    ap.add_argument("--gpt2-layers", type=int, default=12, help="layers of the GPT-2 shape")
    args = ap.parse_args(argv)
    repeats, new = (2, 8) if args.quick else (args.repeats, args.new_tokens)
    cores = max(1, int(_blas_threads.available_cores()))
    pool = max(
        (int(lib.num_threads) for lib in _blas_threads.blas_libraries()),
        default=1,
    )
    modes = ["default", *(f"fixed {n}" for n in range(1, max(pool, 1) + 1))]
    models: dict[str, Model] = {}
    for name in args.models.split(","):
        if name == "tiny":
            models[name] = load_model("builtin:tiny")
        elif name == "gpt2":
            from benchmarks.bench_decode import build_model

            models[name] = build_model(n_layers=args.gpt2_layers)
    prompt = [int(i) for i in np.random.default_rng(1).integers(0, 256, 16)]
    res: dict[str, Any] = {"cores": cores, "pool": pool, "repeats": repeats, "new_tokens": new}
    for load in ("idle", "2 busy loops"):
        ctx = busy_loops(2) if load != "idle" else contextlib.nullcontext()
        with ctx:
            for name, model in models.items():
                res[f"{name} / {load}"] = measure(model, prompt, new, modes, repeats, cores)
    res["loadavg"] = list(os.getloadavg())
    return res


def _table(res: dict[str, Any]) -> str:
    lines = [
        "| model / load | mode | TTFT ms | decode tok/s | default vs best fixed |",
        "|---|---|---:|---:|---|",
    ]
    for key, rows in res.items():
        if not isinstance(rows, dict) or "default" not in rows:
            continue
        for m, r in rows.items():
            vs = ""
            if m == "default":
                vs = f"TTFT {r['ttft_vs_best']:.2f}x, tok/s {r['tok_s_vs_best']:.2f}x"
            lines.append(f"| {key} | {m} | {r['ttft_ms']:.1f} | {r['tok_s']:.1f} | {vs} |")
    return "\n".join(lines) + (
        f"\n({res['repeats']} runs each, medians, {res['new_tokens']} new tokens, "
        f"{res['cores']} cores, BLAS pool {res['pool']})"
    )


if __name__ == "__main__":
    print(_table(main()))
