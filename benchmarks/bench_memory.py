"""Cost of the memory pool and its tracking on decode throughput, all modes in one run.

Modes: ``numpy`` (the runtime's default allocator, the baseline), ``pool`` (the arena pool,
tracking off), ``tracking`` (a record per allocation: time, thread, span, allocating line),
``traces16`` (plus the call stack, 16 frames deep). Two workloads, same process, modes
interleaved round by round so that the ratios hold on a noisy shared machine:

- ``runtime``: ``Model.generate`` on a GPT-2-small-shaped random model (12 layers, d=768,
  vocab 50257; ``bench_decode.build_model``); the runtime takes its workspace and KV blocks
  from the pool, i.e. few pool allocations per token;
- ``alloc-heavy``: a stand-in decode step over GPT-2-small-shaped weights that allocates
  *every* activation from the allocator (~11 allocations per layer, ~130 per token) and
  frees them at the end of the step: the worst case for the pool's hot path.

Reported per mode (median over rounds): tokens/s by wall clock and by process CPU time,
and the CPU-time ratios to ``pool`` and to ``numpy``. On a shared machine the CPU-time
figure is the one to trust (other processes stretch wall time, not our CPU time); BLAS is
limited to one thread (``--blas-threads``) so that all work is on the measured CPU clock
and no BLAS thread spins. Also a micro figure: microseconds per allocate+free pair.

    python benchmarks/bench_memory.py [--quick] [--rounds N] [--tokens N] [--layers N]
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

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.memory import MemoryConfig, init_memory, shutdown_memory

MODES: dict[str, MemoryConfig | None] = {
    "numpy": None,
    "pool": MemoryConfig(),
    "tracking": MemoryConfig(track_allocations=True),
    "traces16": MemoryConfig(track_allocations=True, track_stack_traces=True, stack_depth=16),
}
D, HEADS, VOCAB = 768, 12, 50257


def _bench_decode() -> Any:
    """The runtime engineer's bench_decode module (for ``build_model``/``run_ours``), or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import bench_decode

        return bench_decode
    except ImportError:
        return None
    finally:
        sys.path.pop(0)


def use_mode(mode: str) -> None:
    shutdown_memory()
    cfg = MODES[mode]
    if cfg is not None:
        init_memory(cfg)


class StandIn:
    """GPT-2-small-shaped decode step allocating every activation through the allocator."""

    def __init__(self, layers: int, context: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)

        def r(*shape: int) -> np.ndarray:
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

        hd = D // HEADS
        self.layers = [(r(D, 3 * D), r(D, D), r(D, 4 * D), r(4 * D, D)) for _ in range(layers)]
        self.k = [r(HEADS, context, hd) for _ in range(layers)]  # [H, T, hd]
        self.v = [r(HEADS, context, hd) for _ in range(layers)]
        self.head = r(D, VOCAB)

    def step(self, x0: np.ndarray) -> int:
        x = x0
        alloc = _allocator.get_allocator()
        a, f = alloc.allocate, alloc.free
        hd = D // HEADS
        for (w_qkv, w_o, w_up, w_down), k, v in zip(self.layers, self.k, self.v, strict=True):
            t = k.shape[1]
            h = a((1, D))  # [1, d]
            np.subtract(x, x.mean(), out=h)
            h /= np.sqrt((h * h).mean() + 1e-5)
            qkv = a((1, 3 * D))
            np.matmul(h, w_qkv, out=qkv)
            q = qkv[0, :D].reshape(HEADS, 1, hd)
            s = a((HEADS, 1, t))  # [H, 1, T]
            np.matmul(q, k.transpose(0, 2, 1), out=s)
            p = a((HEADS, 1, t))
            np.exp(s - s.max(axis=-1, keepdims=True), out=p)
            p /= p.sum(axis=-1, keepdims=True)
            ctx = a((HEADS, 1, hd))
            np.matmul(p, v, out=ctx)
            o = a((1, D))
            np.matmul(ctx.reshape(1, D), w_o, out=o)
            x1 = a((1, D))
            np.add(x, o, out=x1)
            h2 = a((1, D))
            np.subtract(x1, x1.mean(), out=h2)
            up = a((1, 4 * D))
            np.matmul(h2, w_up, out=up)
            g = a((1, 4 * D))
            np.tanh(up, out=g)
            down = a((1, D))
            np.matmul(g, w_down, out=down)
            x2 = a((1, D))
            np.add(x1, down, out=x2)
            for buf in (h, qkv, s, p, ctx, o, x1, h2, up, g, down):
                f(buf)
            if x is not x0:
                f(x)
            x = x2
        logits = a((1, VOCAB))
        np.matmul(x, self.head, out=logits)
        tok = int(logits.argmax())
        f(logits)
        if x is not x0:
            f(x)
        return tok

    def decode(self, tokens: int) -> tuple[float, float]:
        """(wall, CPU) tokens/s over ``tokens`` steps."""
        x0 = np.ones((1, D), np.float32)
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(tokens):
            self.step(x0)
        return tokens / (time.perf_counter() - w0), tokens / (time.process_time() - c0)


def generate_rate(model: Any, prompt: list[int], tokens: int) -> tuple[float, float]:
    """(wall, CPU) tokens/s of ``model.generate`` (short prompt: the decode dominates)."""
    from hyperion_otel.runtime import GenerationConfig

    cfg = GenerationConfig(temperature=0.0, max_new_tokens=tokens)
    w0, c0 = time.perf_counter(), time.process_time()
    g = model.generate(prompt, cfg)
    n = len(g.token_ids)
    return n / (time.perf_counter() - w0), n / (time.process_time() - c0)


def pair_cost_us(mode: str, n: int) -> float:
    """Microseconds per allocate+free of a [1, 768] float32 array, called 16 frames deep."""
    use_mode(mode)
    alloc = _allocator.get_allocator()

    def deep(level: int) -> float:
        if level:
            return deep(level - 1)
        t0 = time.perf_counter()
        for _ in range(n):
            alloc.free(alloc.allocate((1, D), np.float32))
        return time.perf_counter() - t0

    return min(deep(14) for _ in range(3)) / n * 1e6


def interleaved(
    runs: dict[str, Callable[[], tuple[float, float]]], rounds: int
) -> dict[str, dict[str, float]]:
    """Median (wall, CPU) tokens/s per mode, modes alternating order round by round."""
    samples: dict[str, list[tuple[float, float]]] = {m: [] for m in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for mode in order:
            use_mode(mode)
            samples[mode].append(runs[mode]())
    shutdown_memory()
    return {
        m: {"wall": statistics.median(w for w, _ in v), "cpu": statistics.median(c for _, c in v)}
        for m, v in samples.items()
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (fewer rounds and tokens)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--blas-threads", type=int, default=1)
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    tokens = args.tokens or (16 if args.quick else 48)
    results: dict[str, Any] = {
        "rounds": rounds,
        "tokens": tokens,
        "layers": args.layers,
        "blas_threads": args.blas_threads,
    }
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        standin = StandIn(args.layers, context=64)
        standin.decode(2)  # warm up BLAS and the pool's bins
        results["alloc-heavy"] = interleaved(
            {m: lambda: standin.decode(tokens) for m in MODES}, rounds
        )
        bd = _bench_decode()
        if bd is not None:
            model = bd.build_model(n_layers=args.layers)
            prompt = [1, 2, 3, 4]
            generate_rate(model, prompt, 2)  # warm-up
            results["runtime"] = interleaved(
                {m: lambda: generate_rate(model, prompt, tokens) for m in MODES}, rounds
            )
        else:
            results["runtime"] = None
        results["pair_us"] = {m: pair_cost_us(m, 20_000 if args.quick else 100_000) for m in MODES}
    shutdown_memory()
    return results


def to_markdown(res: dict[str, Any]) -> str:
    lines = [
        f"rounds={res['rounds']} tokens={res['tokens']} layers={res['layers']} "
        f"blas_threads={res['blas_threads']} (medians; ratios on CPU-time tokens/s)",
        "",
        "| workload | mode | tokens/s (wall) | tokens/CPU-s | vs pool | vs numpy |",
        "|---|---|---|---|---|---|",
    ]
    for workload in ("runtime", "alloc-heavy"):
        figs = res.get(workload)
        if not figs:
            lines.append(f"| {workload} | (runtime not available) | | | | |")
            continue
        for mode, f in figs.items():
            lines.append(
                f"| {workload} | {mode} | {f['wall']:.1f} | {f['cpu']:.1f} | "
                f"{f['cpu'] / figs['pool']['cpu']:.3f} | {f['cpu'] / figs['numpy']['cpu']:.3f} |"
            )
    lines += ["", "| mode | µs per allocate+free ([1, 768] f32, 16 frames deep) |", "|---|---|"]
    lines += [f"| {m} | {us:.2f} |" for m, us in res["pair_us"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(to_markdown(main()))
