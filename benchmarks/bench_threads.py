"""BLAS threads by default against every fixed thread count: TTFT and decode speed.

On ``builtin:tiny`` and a random GPT-2-small-shaped model, idle and beside two busy-loop
processes (started here, one per core on 2 cores, stopped at the end). Modes:

- ``default``: the runtime's own choice (``hyperion_otel._seams.blas``: one thread for
  products too short to gain from a second, the free cores for the others);
- ``fixed N``: every product on N threads (the choice turned off, the pools set to N),
  which is what the runtime did before.

Each mode is measured in blocks: one run thrown away, then runs back to back (``--runs``,
more where a run is short, so that a block lasts at least ``BLOCK_S``), which is the
steady state a caller generating in a loop sees. A mode's thread count leaves state
behind that the next run meets: after a product on N threads OpenBLAS's workers keep
spinning (2^28 cycles, ~0.1 s) and then sleep, and the next multi-thread product pays
their wake-up. Runs of different modes interleaved one by one made each mode inherit its
predecessor's pool (beside busy loops, ``default`` ran right after ``fixed 2`` and met its
spinning workers: 2.53x the TTFT of ``fixed 1`` though it ran every product of
builtin:tiny on one thread); a pause before every run made every run start with sleeping
workers, which no caller in a loop sees. The thrown-away run absorbs the switch.

Blocks are interleaved over ``--rounds`` rounds, the order of modes reversed every other
round. The machine is shared, and other processes' load comes and goes over seconds; so
the ratio of ``default`` to the best fixed count (the one with the best median over all
its runs) is taken within each round, block median against block median, and the figure
is the median of those ratios over rounds. The ratio of the pooled medians and the cores'
worth of CPU that other processes used meanwhile (``/proc/stat``) are shown beside it.

The goal: with defaults, TTFT and decode tok/s within 10% of the best fixed count.

    python benchmarks/bench_threads.py [--quick] [--rounds N] [--runs N] [--new-tokens N]
        [--models tiny,gpt2] [--loads idle,busy]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
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
BLOCK_S = 0.5  # a block lasts at least this long (more runs where runs are short)
MAX_RUNS = 100
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
    _blas_threads.use = lambda macs, streamed=0: None  # type: ignore[assignment] - the old behaviour
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        _blas_threads.use = use  # type: ignore[assignment]


def one_run(model: Model, prompt: list[int], new: int) -> tuple[float, float]:
    g = model.generate(prompt, GenerationConfig(temperature=0.0, max_new_tokens=new))
    decode_s = g.timings.total_s - g.timings.ttft_s
    return g.timings.ttft_s, (len(g.token_ids) - 1) / decode_s


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, this process's CPU seconds) so far."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), ru.ru_utime + ru.ru_stime


def measure(
    model: Model,
    prompt: list[int],
    new: int,
    modes: Sequence[str],
    rounds: int,
    runs: int,
    cores: int,
) -> dict[str, dict[str, float]]:
    # [mode][round] -> the runs of that block
    ttft: dict[str, list[list[float]]] = {m: [] for m in modes}
    tps: dict[str, list[list[float]]] = {m: [] for m in modes}
    # Blocks of at least BLOCK_S, so that a block of builtin:tiny (a few ms a run) spans
    # more than a few scheduler time slices of the other processes.
    t = time.monotonic()
    one_run(model, prompt, new)
    runs = max(runs, min(MAX_RUNS, math.ceil(BLOCK_S / max(time.monotonic() - t, 1e-6))))
    t0, (busy0, own0) = time.monotonic(), cpu_seconds()
    for r in range(rounds):
        for m in modes if r % 2 == 0 else modes[::-1]:
            with mode(m, cores):
                one_run(model, prompt, new)  # thrown away: the previous mode's pool state
                block = [one_run(model, prompt, new) for _ in range(runs)]
            ttft[m].append([a for a, _ in block])
            tps[m].append([b for _, b in block])
    wall, (busy1, own1) = time.monotonic() - t0, cpu_seconds()

    def med(blocks: list[list[float]]) -> float:
        return statistics.median(x for b in blocks for x in b)

    out: dict[str, dict[str, float]] = {
        m: {"ttft_ms": 1e3 * med(ttft[m]), "tok_s": med(tps[m])} for m in modes
    }
    fixed = [m for m in modes if m != "default"]
    best_ttft = min(fixed, key=lambda m: out[m]["ttft_ms"])
    best_tps = max(fixed, key=lambda m: out[m]["tok_s"])

    def paired(x: dict[str, list[list[float]]], best: str) -> float:
        # Each round's default block against the best mode's block of the same round, so
        # that a load that comes and goes between rounds cancels out; median over rounds.
        return statistics.median(
            statistics.median(d) / statistics.median(b)
            for d, b in zip(x["default"], x[best], strict=True)
        )

    d = out["default"]
    d["ttft_vs_best"] = paired(ttft, best_ttft)
    d["tok_s_vs_best"] = paired(tps, best_tps)
    d["ttft_vs_best_pooled"] = d["ttft_ms"] / out[best_ttft]["ttft_ms"]
    d["tok_s_vs_best_pooled"] = d["tok_s"] / out[best_tps]["tok_s"]
    d["runs_per_block"] = runs
    d["others_cores"] = ((busy1 - busy0) - (own1 - own0)) / wall  # other processes' load
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 2 runs, fewer tokens")
    ap.add_argument("--rounds", type=int, default=10, help="blocks of each mode")
    ap.add_argument(
        "--runs", type=int, default=3, help="measured runs in each block (at least; see BLOCK_S)"
    )
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--models", default="tiny,gpt2", help="comma list of: tiny, gpt2")
    ap.add_argument("--loads", default="idle,busy", help="comma list of: idle, busy")
    ap.add_argument("--gpt2-layers", type=int, default=12, help="layers of the GPT-2 shape")
    args = ap.parse_args(argv)
    rounds, runs, new = (2, 2, 8) if args.quick else (args.rounds, args.runs, args.new_tokens)
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
    res: dict[str, Any] = {
        "cores": cores,
        "pool": pool,
        "rounds": rounds,
        "runs": runs,
        "new_tokens": new,
        "loadavg_start": list(os.getloadavg()),
    }
    loads = {"idle": "idle", "busy": "2 busy loops"}
    for load in [loads[x] for x in args.loads.split(",")]:
        ctx = busy_loops(2) if load != "idle" else contextlib.nullcontext()
        with ctx:
            for name, model in models.items():
                res[f"{name} / {load}"] = measure(model, prompt, new, modes, rounds, runs, cores)
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
                vs = (
                    f"TTFT {r['ttft_vs_best']:.2f}x, tok/s {r['tok_s_vs_best']:.2f}x "
                    f"(pooled {r['ttft_vs_best_pooled']:.2f}x, {r['tok_s_vs_best_pooled']:.2f}x; "
                    f"other processes {r['others_cores']:.2f} cores; "
                    f"{r['runs_per_block']} runs a block)"
                )
            lines.append(f"| {key} | {m} | {r['ttft_ms']:.1f} | {r['tok_s']:.1f} | {vs} |")
    return "\n".join(lines) + (
        f"\n({res['rounds']} rounds, blocks of at least {res['runs']} runs and {BLOCK_S} s, "
        f"{res['new_tokens']} new tokens, {res['cores']} cores, BLAS pool {res['pool']}, "
        f"load average {res['loadavg_start'][0]:.2f} at start, {res['loadavg'][0]:.2f} at end)"
    )


if __name__ == "__main__":
    print(_table(main()))
