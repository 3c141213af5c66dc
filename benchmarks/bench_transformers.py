"""Cost of the transformers instrumentation on ``generate``, against plain transformers.

Model: a GPT-2-small-shaped random ``GPT2LMHeadModel`` (12 layers, d=768, 12 heads, vocab
50257, 1024 positions, fp32, CPU, batch 1), a 32-token prompt and 32 new tokens, greedy,
``min_new_tokens`` = ``max_new_tokens`` so every call does the same work. ``configure()``
runs once (default settings: SDK providers with the local OTLP-JSON file exporters), so
both variants run with the same SDK and only the instrumentation differs:

* ``plain``: transformers uninstrumented; ``plain (A/A)``: the same again (noise floor);
* ``instrumented``: ``TransformersInstrumentor().instrument()`` for the call, then
  ``uninstrument()`` (outside the timed call).

Two measures:

* paired ratios: variants run interleaved round by round (the order rotates); each call is
  timed around ``generate`` on the wall clock and on the calling thread's CPU clock (with
  one torch thread all model work runs there). A variant's overhead is the median over
  rounds of its time over ``plain``'s *in the same round*, less one. On a machine whose
  load average is well above its core count these are scheduling noise (the A/A rows say
  how much);
* own time: the instrumentation's own work in each instrumented call, measured on that
  call: the wrapper's time outside transformers' ``generate`` (a timing shim sits between
  the two for every variant) plus, per step, the measured cost of the step clock in the
  stopping-criteria list; over the call's time, median over rounds. On the wall clock and
  on the thread's CPU clock; the CPU figure does not count time the thread waited for a
  core, so it holds on a loaded machine.

Torch runs on ``--threads`` threads (default 1, as the runner's other benchmarks: on 2
shared cores a second thread is preempted often enough to swamp 1%).

    python benchmarks/bench_transformers.py [--quick] [--rounds N] [--tokens N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
from collections.abc import Sequence
from typing import Any

VARIANTS = ("plain", "plain (A/A)", "instrumented")
SHAPE = {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}


def build_model(**shape: int) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(**{**SHAPE, **shape})).eval()


def clock_step_s(length: int) -> float:
    """Added cost per step of the step clock inside generate's stopping-criteria list."""
    import torch
    from transformers import StoppingCriteriaList

    from hyperion_otel.integrations.transformers._clock import new_clock

    ids = torch.zeros((1, length), dtype=torch.long)
    clock = new_clock(False, 0)
    with_clock, without = StoppingCriteriaList([clock]), StoppingCriteriaList()
    n = 2000
    a = min(timeit.repeat(lambda: with_clock(ids, None), number=n, repeat=5)) / n
    b = min(timeit.repeat(lambda: without(ids, None), number=n, repeat=5)) / n
    return max(0.0, a - b)


def _paired(clock: dict[str, list[float]], variant: str) -> float:
    pairs = zip(clock[variant], clock["plain"], strict=True)
    return statistics.median(a / b for a, b in pairs) - 1


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and tokens")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--tokens", type=int, default=None, help="new tokens per call (32)")
    p.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    p.add_argument("--layers", type=int, default=SHAPE["n_layer"])
    p.add_argument("--vocab", type=int, default=SHAPE["vocab_size"])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 11)
    tokens = args.tokens or (16 if args.quick else 32)

    import torch
    from transformers.generation.utils import GenerationMixin

    from hyperion_otel import sdk
    from hyperion_otel.integrations.transformers import TransformersInstrumentor

    torch.set_num_threads(args.threads)
    model = build_model(n_layer=args.layers, vocab_size=args.vocab)
    ids = torch.randint(0, args.vocab, (1, args.prompt), generator=torch.Generator().manual_seed(1))
    gen = {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False}
    inst = TransformersInstrumentor()
    step_s = clock_step_s(args.prompt + tokens)

    real = vars(GenerationMixin)["generate"]
    inner: list[tuple[float, float]] = []  # (wall, thread CPU) inside transformers' generate

    def timed(self: Any, *a: Any, **k: Any) -> Any:  # the shim every variant goes through
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return real(self, *a, **k)
        finally:
            inner.append((time.perf_counter() - t0, time.thread_time() - c0))

    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    own: list[float] = []
    own_cpu: list[float] = []
    GenerationMixin.generate = timed  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-transformers-") as out:
            sdk.configure(output_dir=out, log_outputs=("file",))
            try:
                with torch.inference_mode():
                    warm = {**gen, "max_new_tokens": 2, "min_new_tokens": 2}
                    model.generate(ids, **warm)
                    inst.instrument()  # first-use costs (imports, instruments) out of the rounds
                    model.generate(ids, **warm)
                    inst.uninstrument()
                    for r in range(rounds):
                        for variant in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:
                            on = variant == "instrumented"
                            if on:
                                inst.instrument()
                            t0, c0 = time.perf_counter(), time.thread_time()
                            out_ids = model.generate(ids, **gen)
                            took, cpu_took = time.perf_counter() - t0, time.thread_time() - c0
                            if on:
                                inst.uninstrument()
                                w, c = inner[-1]
                                own.append((took - w + tokens * step_s) / took)
                                own_cpu.append((cpu_took - c + tokens * step_s) / cpu_took)
                            assert out_ids.shape[1] == args.prompt + tokens
                            wall[variant].append(took)
                            cpu[variant].append(cpu_took)
            finally:
                sdk.shutdown()
    finally:
        GenerationMixin.generate = real  # type: ignore[method-assign]

    n = len(own)
    return {
        "rounds": rounds,
        "tokens": tokens,
        "prompt": args.prompt,
        "layers": args.layers,
        "threads": args.threads,
        "generate_s": {v: statistics.median(t) for v, t in wall.items()},
        "generate_cpu_s": {v: statistics.median(t) for v, t in cpu.items()},
        "overhead": _paired(wall, "instrumented"),
        "noise_floor": _paired(wall, "plain (A/A)"),
        "cpu_overhead": _paired(cpu, "instrumented"),
        "cpu_noise_floor": _paired(cpu, "plain (A/A)"),
        "own_fraction": statistics.median(own),
        "own_cpu_fraction": statistics.median(own_cpu),
        "own_ms": 1000
        * statistics.median(f * t for f, t in zip(own, wall["instrumented"][:n], strict=True)),
        "clock_step_us": 1e6 * step_s,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
