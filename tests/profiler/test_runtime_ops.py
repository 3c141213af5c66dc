"""The runtime's own op marks reach the profile and its Chrome trace."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import profiler as prof, semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.runtime import GenerationConfig, load_model
from profiler.checkpoint import write_gpt2
from profiler.test_outputs import assert_nested


def test_runtime_ops_appear_in_the_chrome_trace_with_phases(tmp_path: Path) -> None:
    model = load_model(str(write_gpt2(tmp_path / "ck", d=64, n_layer=2, vocab=256)))
    with prof.profiling(output=tmp_path / "runtime.json") as handle:
        model.generate(list(range(1, 6)), GenerationConfig(temperature=0.0, max_new_tokens=4))
    profile = handle.profile
    assert profile is not None
    names = {e.name for e in profile.ops}
    assert {"matmul", "attention", "norm", "mlp", "kv_cache", "sampling"} <= names
    phases = {e.phase for e in profile.ops}
    assert {"prefill", "decode", "sampling"} <= phases
    prefill_rows = {
        e.attrs["shape"][0]
        for e in profile.ops
        if e.name == "matmul" and e.phase == "prefill" and e.attrs.get("label") == "qkv"
    }
    assert prefill_rows == {5}  # the prompt, in one prefill pass
    doc = json.loads((tmp_path / "runtime.json").read_text())
    assert_nested(doc["traceEvents"])
    x_names = {e["name"] for e in doc["traceEvents"] if e["ph"] == "X" and e.get("cat") == "op"}
    assert {"matmul", "attention", "sampling"} <= x_names


def test_runtime_generate_samples_and_ops_belong_to_its_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    model = load_model(str(write_gpt2(tmp_path / "ck", d=256, n_layer=2, vocab=1024)))
    model.generate([1, 2], GenerationConfig(temperature=0.0, max_new_tokens=2))
    with (
        _telemetry.tracer().start_as_current_span("request") as request,
        prof.profiling() as handle,
        prof.profile_span(request),
    ):
        model.generate(list(range(1, 9)), GenerationConfig(temperature=0.0, max_new_tokens=12))
    profile = handle.profile
    assert profile is not None
    finished = {s.name: s for s in spans.get_finished_spans()}
    generate = next(s for name, s in finished.items() if name.startswith("text_completion"))
    trace_id = generate.context.trace_id
    assert generate.attributes[semconv.HYPERION_PROFILE_ID] == profile.profile_id
    assert profile.ops and all(e.trace_id == trace_id for e in profile.ops)
    # The runtime tags its samples with the generate span (the innermost request span).
    tagged = profile.samples_for(span_id=generate.context.span_id)
    assert tagged and all(s.trace_id == trace_id for s in tagged)
