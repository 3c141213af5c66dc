"""Decode throughput on a GPT-2-small-shaped random model: ours, ours + telemetry, torch eager.

Shape: 12 layers, d=768, 12 heads, vocab 50257, 1024 positions, fp32, batch 1, a 32-token
prompt and 64 new tokens (greedy, so every runner does the same work). All runners share
the same weights and run interleaved in one process, so the ratios hold on a noisy
machine. The SDK's cost is measured on this model, not scaled from a smaller one: each
round runs ours without and with an SDK (dropping exporter) back to back, and the figure is
the median over rounds of the pair's per-token time ratio.

Two in-run references: the *numpy GEMV loop*, the time numpy takes to multiply a row
vector by every weight matrix once (``x @ W.T``, what a decode step does at least: a
floor for this runtime's kernels, not for the machine), and the *streaming-read bound*,
the weight bytes divided by the machine's streaming read bandwidth (an integer OR-reduce
over a 256 MiB buffer, far larger than the caches): the best tokens/s any decoder that
reads every weight once per token could reach here.

    python benchmarks/bench_decode.py [--quick] [--repeats N] [--new-tokens N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hyperion_otel.runtime import GenerationConfig
from hyperion_otel.runtime.config import ArchConfig
from hyperion_otel.runtime.model import Model
from hyperion_otel.runtime.weights import LayerWeights, Weights

SHAPE = {"n_layers": 12, "d_model": 768, "n_heads": 12, "vocab_size": 50257, "max_positions": 1024}


def build_model(seed: int = 0, **shape: int) -> Model:
    s = {**SHAPE, **shape}
    d, v, p = s["d_model"], s["vocab_size"], s["max_positions"]
    cfg = ArchConfig(
        architecture="gpt2",
        hf_architecture="GPT2LMHeadModel",
        n_layers=s["n_layers"],
        d_model=d,
        n_heads=s["n_heads"],
        n_kv_heads=s["n_heads"],
        head_dim=d // s["n_heads"],
        d_ff=4 * d,
        vocab_size=v,
        max_positions=p,
        norm_eps=1e-5,
        attention_bias=True,
        mlp_bias=True,
    )
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.02) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, np.float32)

    layers = [  # nn.Linear layout [out, in], as the loader produces
        LayerWeights(
            ones(d),
            r(d),
            r(3 * d, d),
            r(3 * d),
            r(d, d),
            r(d),
            ones(d),
            r(d),
            r(4 * d, d),
            r(4 * d),
            r(d, 4 * d),
            r(d),
        )
        for _ in range(cfg.n_layers)
    ]
    embed = r(v, d)
    weights = Weights(embed, r(p, d, scale=0.01), layers, ones(d), r(d), embed)
    return Model(cfg, weights, None, "gpt2-small-random", "<memory>", "memory")


def run_ours(model: Model, prompt: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """Decode tokens/s (tokens after the first / their time) and the token ids."""
    g = model.generate(prompt, GenerationConfig(temperature=0.0, max_new_tokens=new_tokens))
    decode_s = g.timings.total_s - g.timings.ttft_s
    return (len(g.token_ids) - 1) / decode_s, g.token_ids


def stream_read_gb_s(repeats: int, nbytes: int = 256 << 20) -> float:
    """Streaming read bandwidth (GB/s, best of ``repeats``): an OR-reduce over ``nbytes`` of
    uint64, one cheap integer op per 8 bytes read, so memory is the limit."""
    buf = np.ones(nbytes // 8, dtype=np.uint64)
    np.bitwise_or.reduce(buf)  # page in
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.bitwise_or.reduce(buf)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e9


def gemv_loop(model: Model, repeats: int) -> tuple[float, float]:
    """(tokens/s, GB/s) of numpy's GEMV over every weight matrix once (``x @ W.T``)."""
    w = model.weights
    mats = [m for lw in w.layers for m in (lw.w_qkv, lw.w_o, lw.w_up, lw.w_down)] + [w.head]
    xs = [np.ones((1, m.shape[1]), np.float32) for m in mats]
    outs = [np.empty((1, m.shape[0]), np.float32) for m in mats]
    nbytes = sum(m.nbytes for m in mats)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for x, m, o in zip(xs, mats, outs, strict=True):
            np.matmul(x, m.T, out=o)
        best = min(best, time.perf_counter() - t0)
    return 1.0 / best, nbytes / best / 1e9


def torch_runner(
    model: Model, threads: int | None = None
) -> Callable[[list[int], int], tuple[float, list[int]]] | None:
    """A hand-written torch eager decode with a KV cache over the same weights, or None."""
    try:
        import torch
        import torch.nn.functional as F  # noqa: N812 - the usual torch alias
    except ImportError:
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    c, w = model.config, model.weights
    t = torch.from_numpy
    wte, wpe = t(w.embed), t(w.pos_embed)  # type: ignore[arg-type]
    lw = [{k: t(v) for k, v in vars(x).items()} for x in w.layers]
    lnf_w, lnf_b = t(w.final_norm_w), t(w.final_norm_b)  # type: ignore[arg-type]
    nh, hd, d = c.n_heads, c.head_dim, c.d_model

    def ln(x: Any, g: Any, b: Any) -> Any:
        return F.layer_norm(x, (d,), g, b, c.norm_eps)

    def step(ids: Any, pos0: int, kc: Any, vc: Any) -> Any:
        n = ids.shape[0]
        x = wte[ids] + wpe[pos0 : pos0 + n]
        for i, p in enumerate(lw):
            h = ln(x, p["norm1_w"], p["norm1_b"])
            q, k, v = F.linear(h, p["w_qkv"], p["b_qkv"]).split(d, dim=1)
            q = q.view(n, nh, hd).transpose(0, 1)
            kc[i, :, pos0 : pos0 + n] = k.view(n, nh, hd).transpose(0, 1)
            vc[i, :, pos0 : pos0 + n] = v.view(n, nh, hd).transpose(0, 1)
            kk, vv = kc[i, :, : pos0 + n], vc[i, :, : pos0 + n]
            att = (q @ kk.transpose(1, 2)) / hd**0.5
            if n > 1:
                mask = torch.ones(n, pos0 + n, dtype=torch.bool).tril(pos0)
                att = att.masked_fill(~mask, float("-inf"))
            a = (att.softmax(-1) @ vv).transpose(0, 1).reshape(n, d)
            x = x + F.linear(a, p["w_o"], p["b_o"])
            h = ln(x, p["norm2_w"], p["norm2_b"])
            u = F.gelu(F.linear(h, p["w_up"], p["b_up"]), approximate="tanh")
            x = x + F.linear(u, p["w_down"], p["b_down"])
        return F.linear(ln(x[-1:], lnf_w, lnf_b), wte)

    def run(prompt: list[int], new_tokens: int) -> tuple[float, list[int]]:
        with torch.inference_mode():
            total = len(prompt) + new_tokens
            kc = torch.zeros(c.n_layers, nh, total, hd)
            vc = torch.zeros(c.n_layers, nh, total, hd)
            tok = int(step(torch.tensor(prompt), 0, kc, vc).argmax())
            out = [tok]
            t0 = time.perf_counter()
            for _ in range(new_tokens - 1):
                tok = int(step(torch.tensor([tok]), len(prompt) + len(out) - 1, kc, vc).argmax())
                out.append(tok)
            return (new_tokens - 1) / (time.perf_counter() - t0), out

    return run


class _DroppingSpanExporter:
    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def install_dropping_sdk() -> Callable[[], None]:
    """Global SDK providers whose exporters drop everything; returns an undo.

    The undo shuts them down and puts back pristine API globals (``otel_private.reset``), so runs with and without an SDK can alternate.
    """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from hyperion_otel._seams import otel_private, telemetry as _telemetry

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(_DroppingSpanExporter()))  # type: ignore[arg-type]
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(mp)
    _telemetry.refresh()

    def undo() -> None:
        tp.shutdown()
        mp.shutdown()
        otel_private.reset(("traces", "metrics"))
        _telemetry.refresh()

    return undo


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, 16 new tokens")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument(
        "--threads", type=int, default=None, help="BLAS/torch threads (default: library default)"
    )
    args = ap.parse_args(argv)
    repeats, new = (1, 16) if args.quick else (args.repeats, args.new_tokens)

    limiter = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    model = build_model()
    prompt = [
        int(i)
        for i in np.random.default_rng(1).integers(0, SHAPE["vocab_size"], args.prompt_tokens)
    ]
    torch_run = None if args.no_torch else torch_runner(model, args.threads)
    run_ours(model, prompt, 4)  # warm up BLAS threads and page in the weights
    if torch_run is not None:
        torch_run(prompt, 4)

    ours: list[float] = []
    with_tel: list[float] = []
    paired: list[float] = []  # per round: per-token time with the SDK / without, minus 1
    torch_tps: list[float] = []
    ids_ours: list[int] = []
    ids_torch: list[int] = []
    for _ in range(repeats):  # round-robin so load changes hit every runner alike
        tps, ids_ours = run_ours(model, prompt, new)
        ours.append(tps)
        undo = install_dropping_sdk()
        try:
            run_ours(model, prompt, 2)  # first use creates the instruments: not timed
            with_tel.append(run_ours(model, prompt, new)[0])
        finally:
            undo()
        paired.append(tps / with_tel[-1] - 1)
        if torch_run is not None:
            tps, ids_torch = torch_run(prompt, new)
            torch_tps.append(tps)
    gemv_tps, gbps = gemv_loop(model, max(3, repeats))
    stream_gbps = stream_read_gb_s(max(3, repeats))
    if limiter is not None:
        limiter.restore_original_limits()

    weight_mb = (
        sum(m.nbytes for lw in model.weights.layers for m in (lw.w_qkv, lw.w_o, lw.w_up, lw.w_down))
        / 1e6
        + model.weights.head.nbytes / 1e6
    )
    res: dict[str, Any] = {
        "ours_tok_s": statistics.median(ours),
        "ours_best_tok_s": max(ours),
        "ours_telemetry_tok_s": statistics.median(with_tel),
        "ours_telemetry_best_tok_s": max(with_tel),
        "gemv_loop_tok_s": gemv_tps,
        "gemv_gb_s": gbps,
        "stream_read_gb_s": stream_gbps,
        "bound_tok_s": stream_gbps * 1e3 / weight_mb,  # streaming-read bound
        "weight_mb_per_token": weight_mb,
        # Measured on this model: median over rounds of the paired per-token time ratio.
        "telemetry_overhead": statistics.median(paired),
        "telemetry_us_per_token": statistics.median(
            (1 / t - 1 / o) * 1e6 for o, t in zip(ours, with_tel, strict=True)
        ),
        "repeats": repeats,
        "threads": args.threads,
        "new_tokens": new,
    }
    res["ours_vs_bound"] = res["ours_tok_s"] / res["bound_tok_s"]
    res["ours_vs_gemv_loop"] = res["ours_tok_s"] / gemv_tps
    if torch_tps:
        res["torch_eager_tok_s"] = statistics.median(torch_tps)
        res["torch_eager_best_tok_s"] = max(torch_tps)
        res["ours_vs_torch"] = res["ours_tok_s"] / res["torch_eager_tok_s"]
        res["same_tokens_as_torch"] = ids_ours == ids_torch
    return res


def _table(res: dict[str, Any]) -> str:
    base = res["ours_tok_s"]
    rows = [
        ("ours (numpy, no SDK)", res["ours_tok_s"], res["ours_best_tok_s"]),
        (
            "ours + telemetry (SDK, dropping exporter)",
            res["ours_telemetry_tok_s"],
            res["ours_telemetry_best_tok_s"],
        ),
    ]
    if "torch_eager_tok_s" in res:
        rows.append(
            (
                "torch eager (hand-written, KV cache)",
                res["torch_eager_tok_s"],
                res["torch_eager_best_tok_s"],
            )
        )
    label = (
        f"numpy GEMV loop over the weights ({res['weight_mb_per_token']:.0f} MB/token "
        f"at {res['gemv_gb_s']:.1f} GB/s)"
    )
    rows.append((label, res["gemv_loop_tok_s"], res["gemv_loop_tok_s"]))
    label = f"streaming-read bound (the same bytes at {res['stream_read_gb_s']:.1f} GB/s)"
    rows.append((label, res["bound_tok_s"], res["bound_tok_s"]))
    lines = ["| runner | median tok/s | best tok/s | median vs ours |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b:.1f} | {c:.1f} | {b / base:.3f} |" for a, b, c in rows]
    extra = (
        f"\ntelemetry (SDK, dropping exporter), measured on this model: "
        f"{100 * res['telemetry_overhead']:+.2f}% per token ({res['telemetry_us_per_token']:+.1f} us), "
        "median of paired runs"
    )
    if "ours_vs_torch" in res:
        extra += (
            f"\nours / torch eager (median): {res['ours_vs_torch']:.3f}x; "
            f"same greedy tokens: {res['same_tokens_as_torch']}"
        )
    threads = res["threads"] if res["threads"] is not None else "library default"
    return (
        "\n".join(lines)
        + extra
        + (
            f"\n({res['repeats']} runs each, round-robin, {res['new_tokens']} new tokens, threads: {threads})"
        )
    )


if __name__ == "__main__":
    print(_table(main()))
