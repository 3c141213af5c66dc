"""What the memory optimizer's settings buy and cost, on the runtime and the real pool.

For each setting (memory/speed tradeoff 0, 0.5, 1 with in-place on; tradeoff 0.5 with
in-place off), one fresh model of the shipped ``builtin:tiny`` serves ``--requests``
generate calls (greedy, ``--tokens`` new tokens, KV blocks of 16 tokens). Settings are
interleaved round by round so that the time ratios hold on a noisy machine. Reported per
setting: pool allocations per request after the first, bytes of the pool in use between
requests, pool bytes held, and the median request time; and the ratios of request time to
tradeoff 0.5, in-place on (the default).

    python benchmarks/bench_memory_policy.py [--quick] [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

from hyperion_otel.memory import (
    MemoryConfig,
    MemoryOptimizerConfig,
    configure_memory_optimizer,
    init_memory,
    shutdown_memory,
)
from hyperion_otel.memory.optimizer import reset_memory_optimizer
from hyperion_otel.runtime import CacheConfig, GenerationConfig, load_model
from hyperion_otel.runtime.model import configure_cache_optimization

SETTINGS: dict[str, MemoryOptimizerConfig] = {
    "tradeoff 0": MemoryOptimizerConfig(memory_speed_tradeoff=0.0),
    "tradeoff 0.5": MemoryOptimizerConfig(memory_speed_tradeoff=0.5),
    "tradeoff 1": MemoryOptimizerConfig(memory_speed_tradeoff=1.0),
    "in-place off": MemoryOptimizerConfig(enable_in_place_ops=False),
}
BASE = "tradeoff 0.5"


def _one(setting: str, requests: int, tokens: int) -> dict[str, float]:
    pool = init_memory(MemoryConfig(initial_pool_size=256 * 1024))
    configure_memory_optimizer(SETTINGS[setting])
    model = load_model("builtin:tiny")
    configure_cache_optimization(model, CacheConfig(block_size=16))
    cfg = GenerationConfig(temperature=0.0, max_new_tokens=tokens)
    try:
        model.generate("request w", cfg)  # same prompt length as the measured ones
        allocs, held, pool_bytes, times = [], [], [], []
        for i in range(requests):
            n0 = pool.debug_info().total_allocations
            t0 = time.perf_counter()
            model.generate(f"request {i}", cfg)
            times.append(time.perf_counter() - t0)
            allocs.append(pool.debug_info().total_allocations - n0)
            stats = pool.heap_stats()
            held.append(stats.used_bytes)
            pool_bytes.append(stats.pool_bytes)
        return {
            "allocations_per_request": statistics.mean(allocs),
            "used_between_requests_bytes": statistics.mean(held),
            "pool_bytes": statistics.mean(pool_bytes),
            "request_s": statistics.median(times),
        }
    finally:
        del model
        shutdown_memory()
        reset_memory_optimizer()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=32)
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    requests = args.requests or (5 if args.quick else 10)
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    for _ in range(rounds):
        for setting in SETTINGS:
            runs[setting].append(_one(setting, requests, args.tokens))
    out: dict[str, Any] = {"settings": {}}
    for setting, results in runs.items():
        out["settings"][setting] = {k: statistics.median(r[k] for r in results) for k in results[0]}
    base = out["settings"][BASE]["request_s"]
    for figures in out["settings"].values():
        figures["request_time_vs_default"] = figures["request_s"] / base
    return out


if __name__ == "__main__":
    res = main()
    print(
        "| setting | allocations/request | pool used between requests | pool held | request | vs default |"
    )
    print("|---|---|---|---|---|---|")
    for name, f in res["settings"].items():
        print(
            f"| {name} | {f['allocations_per_request']:.1f} | "
            f"{f['used_between_requests_bytes'] / 1024:.0f} KiB | {f['pool_bytes'] / 1024:.0f} KiB | "
            f"{1e3 * f['request_s']:.1f} ms | {f['request_time_vs_default']:.3f}x |"
        )
