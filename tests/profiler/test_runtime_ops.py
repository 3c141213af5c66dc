"""The runtime's own op marks reach the profile and its Chrome trace."""

from __future__ import annotations

import json
from pathlib import Path

from hyperion_otel import profiler as prof
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
    prefill_rows = {e.attrs["shape"][0] for e in profile.ops
                    if e.name == "matmul" and e.phase == "prefill" and e.attrs.get("label") == "qkv"}
    assert prefill_rows == {5}  # the prompt, in one prefill pass
    doc = json.loads((tmp_path / "runtime.json").read_text())
    assert_nested(doc["traceEvents"])
    x_names = {e["name"] for e in doc["traceEvents"] if e["ph"] == "X" and e.get("cat") == "op"}
    assert {"matmul", "attention", "sampling"} <= x_names
