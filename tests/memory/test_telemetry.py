"""Telemetry of the pool: span attribution (bytes allocated, peak), allocations tagged with
the generating request's trace, and the pool metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from hyperion_otel import semconv
from hyperion_otel.memory import (
    MemoryConfig,
    check_memory_leaks,
    init_memory,
    set_leak_checkpoint,
    span_memory,
    start_span_memory,
)

ALLOCATED = semconv.HYPERION_MEMORY_ALLOCATED_BYTES
PEAK = semconv.HYPERION_MEMORY_PEAK_BYTES


def test_span_memory_sets_allocated_and_peak_bytes(telemetry):
    pool = init_memory(MemoryConfig())
    base = pool.allocate(250)  # 1000 bytes live before the span
    with telemetry.tracer.start_as_current_span("step") as span, span_memory(span) as m:
        a = pool.allocate(100)  # 400
        b = pool.allocate(200)  # 800 -> 2200 live: the peak
        pool.free(a)
        pool.free(b)
        c = pool.allocate(50)  # 200
    (finished,) = telemetry.spans()
    assert finished.attributes[ALLOCATED] == 1400 == m.allocated_bytes
    assert finished.attributes[PEAK] == 2200 == m.peak_bytes
    del base, c


def test_nested_measurements_and_the_explicit_start_end_form(telemetry):
    pool = init_memory(MemoryConfig())
    outer = start_span_memory()
    x = pool.allocate(1000)  # 4000
    pool.free(x)
    with telemetry.tracer.start_as_current_span("inner"), span_memory() as inner:
        y = pool.allocate(10)  # 40
    span = telemetry.tracer.start_span("outer")
    outer.end(span)
    outer.end(span)  # idempotent
    span.end()
    attrs = {s.name: s.attributes for s in telemetry.spans()}
    assert (attrs["inner"][ALLOCATED], attrs["inner"][PEAK]) == (40, 40)
    assert (attrs["outer"][ALLOCATED], attrs["outer"][PEAK]) == (4040, 4000)
    assert (inner.allocated_bytes, outer.allocated_bytes) == (40, 4040)
    del y


def test_without_a_pool_nothing_is_measured_or_set(telemetry):
    with telemetry.tracer.start_as_current_span("s") as span, span_memory(span) as m:
        pass
    assert not m.measured
    assert ALLOCATED not in telemetry.spans()[0].attributes


def points(telemetry, name):
    return telemetry.metrics().get(name, [])


def test_pool_metrics_are_observed_at_collection(telemetry):
    pool = init_memory(
        MemoryConfig(initial_pool_size=4096, max_pool_size=1 << 20, enable_optimization=False)
    )
    a = pool.allocate(256)  # 1 KiB
    b = pool.allocate(256)
    pool.free(a)
    m = telemetry.metrics()
    usage = {
        p.attributes[semconv.HYPERION_MEMORY_STATE]: p.value
        for p in m[semconv.METRIC_MEMORY_POOL_USAGE]
    }
    assert usage == {"used": 1024, "free": 3072}
    assert [p.value for p in m[semconv.METRIC_MEMORY_ALLOCATIONS]] == [2]
    assert [p.value for p in m[semconv.METRIC_MEMORY_ACTIVE_ALLOCATIONS]] == [1]
    # Free: [0, 1024) and [2048, 4096) -> largest 2048 of 3072.
    assert [round(p.value, 4) for p in m[semconv.METRIC_MEMORY_FRAGMENTATION]] == [
        round(1 - 2048 / 3072, 4)
    ]
    pool.close()
    assert semconv.METRIC_MEMORY_POOL_USAGE not in telemetry.metrics()  # no pool, no points
    del b


GPT2 = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "vocab_size": 50,
    "n_embd": 16,
    "n_head": 2,
    "n_layer": 2,
    "n_positions": 64,
    "layer_norm_epsilon": 1e-5,
    "activation_function": "gelu_new",
    "bos_token_id": 49,
    "eos_token_id": None,
}


def write_tiny_gpt2(path: Path) -> Path:
    """An HF-layout GPT-2 checkpoint with random weights (config.json + model.safetensors)."""
    rng = np.random.default_rng(0)
    d, v, p = GPT2["n_embd"], GPT2["vocab_size"], GPT2["n_positions"]

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    w = {"wte.weight": r(v, d), "wpe.weight": r(p, d), "ln_f.weight": 1 + r(d), "ln_f.bias": r(d)}
    for i in range(GPT2["n_layer"]):
        h = f"h.{i}."
        w |= {
            h + "ln_1.weight": 1 + r(d),
            h + "ln_1.bias": r(d),
            h + "ln_2.weight": 1 + r(d),
            h + "ln_2.bias": r(d),
            h + "attn.c_attn.weight": r(d, 3 * d),
            h + "attn.c_attn.bias": r(3 * d),
            h + "attn.c_proj.weight": r(d, d),
            h + "attn.c_proj.bias": r(d),
            h + "mlp.c_fc.weight": r(d, 4 * d),
            h + "mlp.c_fc.bias": r(4 * d),
            h + "mlp.c_proj.weight": r(4 * d, d),
            h + "mlp.c_proj.bias": r(d),
        }
    path.mkdir()
    (path / "config.json").write_text(json.dumps(GPT2))
    save_file(w, str(path / "model.safetensors"))
    return path


def test_generation_allocations_are_tagged_with_its_trace_and_all_freed(telemetry, tmp_path):
    from hyperion_otel.runtime import GenerationConfig, load_model

    model = load_model(str(write_tiny_gpt2(tmp_path / "gpt2")))
    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True))
    set_leak_checkpoint()
    live_during: list[str | None] = []
    for _ in model.stream([1, 2, 3], GenerationConfig(temperature=0.0, max_new_tokens=4)):
        if not live_during:
            live_during = [pool.describe(r.array).trace_id for r in pool.live_records()]
    spans = {s.name: s for s in telemetry.spans()}
    generate = next(s for name, s in spans.items() if name.startswith("text_completion"))
    trace_id = format(generate.context.trace_id, "032x")
    assert live_during, "the runtime allocated nothing from the pool"
    assert set(live_during) == {trace_id}  # workspace and KV blocks of this request
    assert not check_memory_leaks(log=False).has_leaks  # and it freed all of them
    assert pool.debug_info().total_allocations >= len(live_during)
