"""Decode speed beside llama.cpp on the same GGUF file (GPT-2-small shape, F32).

The same random GPT-2-small-shaped model (``benchmarks._gpt2_files``) as a GGUF file,
loaded by ``load_model`` and by llama.cpp (llama-cpp-python), a 16-token prompt and 128
new tokens, greedy, at 1 and 2 threads. Runners alternate round-robin in one process.
Decode tok/s counts the tokens after the first over their time (prefill excluded), for
both. Hyperion runs with its default thread choice inside a BLAS pool of N threads;
llama.cpp with ``n_threads=N``. ``--all-types`` adds llama.cpp F16 and Q8_0 rows.

llama-cpp-python is not a dependency; without it the llama.cpp rows are skipped and the
result says so. To install it (a source build, ~16 minutes on 2 cores):

    CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python==0.3.36

    python benchmarks/bench_llama_cpp.py [--quick] [--repeats N] [--new-tokens N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks._gpt2_files import make_files
from benchmarks.bench_load import default_cache_dir
from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.model import Model

INSTALL = 'CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python==0.3.36'
# (decode tok/s by the wall clock, decode tokens per CPU-second of the process, token ids)
Runner = Callable[[list[int], int], tuple[float, float, list[int]]]


def ours(model: Model, threads: int) -> Runner:
    def run(prompt: list[int], new: int) -> tuple[float, float, list[int]]:
        cfg = GenerationConfig(temperature=0.0, max_new_tokens=new)
        with threadpool_limits(limits=threads, user_api="blas"):
            stream = model.stream(prompt, cfg)
            ids = [next(stream).token_id]  # prefill and the first token
            c0, t0 = time.process_time(), time.perf_counter()
            ids += [tok.token_id for tok in stream]
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return (len(ids) - 1) / wall, (len(ids) - 1) / cpu, ids

    return run


def llama_cpp_runner(path: Path, threads: int) -> Runner:
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(path),
        n_ctx=512,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )

    def run(prompt: list[int], new: int) -> tuple[float, float, list[int]]:
        llm.reset()
        llm.eval(prompt)
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out = [tok]
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(new - 1):
            llm.eval([tok])
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(tok)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return (new - 1) / wall, (new - 1) / cpu, out

    return run


def llama_cpp_available() -> str | None:
    """The llama-cpp-python version, or None when it is not installed."""
    try:
        import llama_cpp
    except ImportError:
        return None
    return str(getattr(llama_cpp, "__version__", "unknown"))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument(
        "--all-types",
        action="store_true",
        help="also llama.cpp on the F16 and Q8_0 files (llama-cpp-python 0.3.36 built here "
        "crashed in libggml-cpu on one of them)",
    )
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    threads = [int(t) for t in args.threads.split(",")]
    files = make_files(args.cache_dir or default_cache_dir())
    version = llama_cpp_available()
    res: dict[str, Any] = {
        "repeats": repeats,
        "new_tokens": args.new_tokens,
        "prompt_tokens": args.prompt_tokens,
        "llama_cpp_version": version,
    }
    if version is None:
        res["skipped"] = f"llama-cpp-python is not installed: llama.cpp rows skipped ({INSTALL})"
        print(res["skipped"], file=sys.stderr)
    model = load_model(files["F32"])
    prompt = [int(i) for i in np.random.default_rng(1).integers(0, 50000, args.prompt_tokens)]
    runners: dict[str, Runner] = {}
    for n in threads:
        runners[f"ours F32 {n}t"] = ours(model, n)
        if version is not None:
            for qtype in ("F32", "F16", "Q8_0") if args.all_types else ("F32",):
                runners[f"llama.cpp {qtype} {n}t"] = llama_cpp_runner(files[qtype], n)
    for run in runners.values():  # warm up: threads, page faults
        run(prompt, 4)
    tps: dict[str, list[float]] = {k: [] for k in runners}
    cpu: dict[str, list[float]] = {k: [] for k in runners}
    ids: dict[str, list[int]] = {}
    for _ in range(repeats):
        for name, run in runners.items():
            rate, cpu_rate, ids[name] = run(prompt, args.new_tokens)
            tps[name].append(rate)
            cpu[name].append(cpu_rate)
    res["tok_s"] = {k: statistics.median(v) for k, v in tps.items()}
    res["best_tok_s"] = {k: max(v) for k, v in tps.items()}
    # Tokens per CPU-second: on a machine shared with other work, the 1-thread figure
    # that other processes stretch least (with N threads it measures efficiency).
    res["tok_per_cpu_s"] = {k: statistics.median(v) for k, v in cpu.items()}
    if version is not None:
        res["ours_vs_llama_cpp_f32"] = {
            f"{n}t": res["tok_s"][f"ours F32 {n}t"] / res["tok_s"][f"llama.cpp F32 {n}t"]
            for n in threads
        }
        res["ours_vs_llama_cpp_f32_cpu"] = {
            f"{n}t": res["tok_per_cpu_s"][f"ours F32 {n}t"]
            / res["tok_per_cpu_s"][f"llama.cpp F32 {n}t"]
            for n in threads
        }
        res["same_tokens"] = {
            f"{n}t": ids[f"ours F32 {n}t"] == ids[f"llama.cpp F32 {n}t"] for n in threads
        }
    return res


def _table(res: dict[str, Any]) -> str:
    lines = [
        "| runner | median tok/s | best tok/s | tok per CPU-s |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {k} | {v:.1f} | {res['best_tok_s'][k]:.1f} | {res['tok_per_cpu_s'][k]:.1f} |"
        for k, v in res["tok_s"].items()
    ]
    for n, r in res.get("ours_vs_llama_cpp_f32", {}).items():
        lines.append(
            f"\nours / llama.cpp F32 at {n}: {r:.3f}x by the wall clock, "
            f"{res['ours_vs_llama_cpp_f32_cpu'][n]:.3f}x per CPU-second "
            f"(same greedy tokens: {res['same_tokens'][n]})"
        )
    if "skipped" in res:
        lines.append("\n" + res["skipped"])
    return "\n".join(lines) + (
        f"\n({res['repeats']} runs each, round-robin, {res['prompt_tokens']}-token prompt, "
        f"{res['new_tokens']} new tokens)"
    )


if __name__ == "__main__":
    print(_table(main()))
