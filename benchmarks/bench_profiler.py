"""Profiler overhead on decode: tokens/s plain vs profiling at 1 ms and at 10 ms, same run.

The model is the runtime's GPT-2 with GPT-2 small's widths (d_model 768, 12 heads, MLP
3072) and random weights, written once to a temporary checkpoint; ``--layers`` (default
12 as GPT-2 small, 2 with ``--quick``) and ``--vocab`` set its depth and vocabulary.
Modes are interleaved round by round (the order alternates) so machine noise hits them
alike. Per round and mode: the median decode step and the process CPU time per output
token. A mode's overhead is the median over rounds of its ratio to ``plain`` *in the
same round* (paired, so a load change between rounds cancels out), with quartiles; the
``plain (A/A)`` mode is ``plain`` again, the noise floor of that comparison. The
profiling modes run the default ``ProfilerConfig`` (ops, memory and cache tracking on).

    python benchmarks/bench_profiler.py [--quick] [--rounds N] [--tokens N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hyperion_otel import profiler as prof
from hyperion_otel.runtime import GenerationConfig, load_model

MODES = ("plain", "plain (A/A)", "profile 10 ms", "profile 1 ms")
PROFILED = MODES[2:]


def write_checkpoint(directory: Path, d: int, n_layer: int, vocab: int, n_positions: int) -> Path:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

    ones, zeros = np.ones(d, np.float32), np.zeros(d, np.float32)
    w = {
        "wte.weight": r(vocab, d),
        "wpe.weight": r(n_positions, d),
        "ln_f.weight": ones,
        "ln_f.bias": zeros,
    }
    for i in range(n_layer):
        p = f"h.{i}."
        w |= {
            p + "ln_1.weight": ones,
            p + "ln_1.bias": zeros,
            p + "attn.c_attn.weight": r(d, 3 * d),
            p + "attn.c_attn.bias": r(3 * d),
            p + "attn.c_proj.weight": r(d, d),
            p + "attn.c_proj.bias": r(d),
            p + "ln_2.weight": ones,
            p + "ln_2.bias": zeros,
            p + "mlp.c_fc.weight": r(d, 4 * d),
            p + "mlp.c_fc.bias": r(4 * d),
            p + "mlp.c_proj.weight": r(4 * d, d),
            p + "mlp.c_proj.bias": r(d),
        }
    cfg = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_embd": d,
        "n_head": d // 64,
        "n_layer": n_layer,
        "n_positions": n_positions,
        "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
        "bos_token_id": vocab - 1,
        "eos_token_id": vocab - 1,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg))
    save_file(w, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def decode_tps(model: Any, tokens: int) -> tuple[float, float]:
    """Decode tokens/s (1 / median decode step: robust to a noisy neighbour's spikes) and
    process CPU ms per decode step, from the first token out (prefill not counted)."""
    stream = model.stream(
        list(range(1, 9)), GenerationConfig(temperature=0.0, max_new_tokens=tokens)
    )
    next(stream)  # prefill and the first token
    cpu0 = time.process_time()
    steps = sum(1 for _ in stream)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / max(1, steps)
    gen = stream.generation
    assert gen is not None
    latencies = gen.timings.token_latencies_s[1:]
    return (1.0 / statistics.median(latencies) if latencies else 0.0), cpu_ms


def run_mode(model: Any, mode: str, tokens: int) -> tuple[float, dict[str, float]]:
    if mode.startswith("plain"):
        tps, cpu_ms = decode_tps(model, tokens)
        return tps, {"cpu_ms_per_token": cpu_ms}
    interval = 1.0 if mode.endswith(" 1 ms") else 10.0
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=interval)) as handle:
        tps, cpu_ms = decode_tps(model, tokens)
    profile = handle.profile
    assert profile is not None
    stats = dict(profile.stats)
    stats["cpu_ms_per_token"] = cpu_ms
    stats["samples"] = float(len(profile.samples))
    stats["ops"] = float(len(profile.ops))
    stats["duration_s"] = profile.duration_s
    return tps, stats


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 layers, 3 rounds, 16 tokens")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--vocab", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (1 is steadier on a shared machine)",
    )
    args = ap.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    layers = args.layers or (2 if args.quick else 12)
    vocab = args.vocab or (4096 if args.quick else 50257)
    rounds = args.rounds or (3 if args.quick else 15)
    tokens = args.tokens or (16 if args.quick else 32)
    with tempfile.TemporaryDirectory(prefix="bench-profiler-") as tmp:
        model = load_model(str(write_checkpoint(Path(tmp) / "gpt2", 768, layers, vocab, 64)))
    decode_tps(model, 4)  # warm-up
    tps: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    tick_cost: dict[str, list[float]] = {m: [] for m in PROFILED}
    samples: dict[str, list[float]] = {m: [] for m in PROFILED}
    t0 = time.perf_counter()
    for r in range(rounds):
        for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
            value, stats = run_mode(model, mode, tokens)
            tps[mode].append(value)
            cpu[mode].append(stats["cpu_ms_per_token"])
            if mode in PROFILED:
                ticks = stats.get("sampler_ticks", 0.0)
                tick_cost[mode].append(stats["sampler_busy_s"] / ticks * 1e6 if ticks else 0.0)
                samples[mode].append(stats["samples"] / stats["duration_s"])
    result: dict[str, Any] = {
        "model": f"gpt2-shaped d768 L{layers} vocab {vocab}"
        + (f", {args.blas_threads} BLAS thread(s)" if args.blas_threads else ""),
        "rounds": rounds,
        "tokens_per_round": tokens,
        "wall_s": time.perf_counter() - t0,
        "modes": {},
    }
    for m in MODES:
        # Paired: each round's figure over plain's in the same round. Step time is 1 / tok/s,
        # so the step overhead is plain's tok/s over the mode's.
        step_over = [
            b / v - 1 if v else math.inf for v, b in zip(tps[m], tps["plain"], strict=True)
        ]
        cpu_over = [v / b - 1 if b else math.inf for v, b in zip(cpu[m], cpu["plain"], strict=True)]
        result["modes"][m] = {
            "decode_tok_s": statistics.median(tps[m]),
            "all_tok_s": tps[m],
            "cpu_ms_per_token": statistics.median(cpu[m]),
            "all_cpu_ms_per_token": cpu[m],
            **(
                {}
                if m == "plain"
                else {
                    "step_overhead": statistics.median(step_over),
                    "step_overhead_q": quartiles(step_over),
                    "cpu_overhead": statistics.median(cpu_over),
                    "cpu_overhead_q": quartiles(cpu_over),
                }
            ),
            **(
                {
                    "sampler_us_per_tick": statistics.median(tick_cost[m]),
                    "samples_per_s": statistics.median(samples[m]),
                }
                if m in PROFILED
                else {}
            ),
        }
    return result


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q[0], statistics.median(values), q[2]


def _pct_q(m: dict[str, Any], key: str) -> str:
    if key not in m:
        return "-"
    lo, mid, hi = m[key]
    return f"{100 * mid:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _print(result: dict[str, Any]) -> None:
    print(
        f"### Profiler overhead on decode ({result['model']}, {result['rounds']} rounds x "
        f"{result['tokens_per_round']} tokens; overheads: median [quartiles] of per-round "
        "ratios to plain)\n"
    )
    print(
        "| mode | decode tok/s | step overhead | CPU ms/token | CPU overhead "
        "| sampler us/tick | samples/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, m in result["modes"].items():
        tick = f"{m['sampler_us_per_tick']:.1f}" if "sampler_us_per_tick" in m else "-"
        rate = f"{m['samples_per_s']:.0f}" if "samples_per_s" in m else "-"
        print(
            f"| {mode} | {m['decode_tok_s']:.2f} | {_pct_q(m, 'step_overhead_q')} | "
            f"{m['cpu_ms_per_token']:.2f} | {_pct_q(m, 'cpu_overhead_q')} | {tick} | {rate} |"
        )


if __name__ == "__main__":
    _print(main())
