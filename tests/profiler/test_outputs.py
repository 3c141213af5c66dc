"""Saved profiles: Chrome trace (nested X, counters, metadata), speedscope (schema), summary."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hyperion_otel import profiler as prof
from hyperion_otel._seams import allocator as _allocator, ops as _ops
from hyperion_otel.errors import HyperionIOError, InvalidInputError
from hyperion_otel.profiler.chrome import to_chrome_trace
from hyperion_otel.profiler.config import ProfilerConfig
from hyperion_otel.profiler.session import OpEvent, Profile, ThreadInfo
from hyperion_otel.runtime import GenerationConfig
from profiler.workload import StandInModel, hot_python

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "speedscope-file-format-schema.json").read_text()
)
RUNTIME_OPS = {"matmul", "attention", "norm", "mlp", "kv_cache", "sampling", "tokenize"}


def assert_nested(events: list[dict[str, Any]]) -> int:
    """Every X event lies inside the enclosing one on its thread; returns the max depth."""
    per_tid: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            assert e["dur"] >= 0
            per_tid[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    deepest = 0
    eps = 1e-3  # JSON carries microseconds with 3 decimals
    for slices in per_tid.values():
        slices.sort(key=lambda s: (s[0], -s[1]))
        stack: list[tuple[float, float]] = []
        for start, end in slices:
            while stack and stack[-1][1] <= start + eps:
                stack.pop()
            if stack:
                assert end <= stack[-1][1] + eps, (start, end, stack[-1])
            stack.append((start, end))
            deepest = max(deepest, len(stack))
    return deepest


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    model = StandInModel(d_model=128, n_layer=2, vocab=512)
    prof.init_profiler(
        ProfilerConfig(
            track_functions=True,
            track_memory=True,
            track_cache=True,
            trace_calls=True,
            counter_interval_ms=1.0,
        )
    )
    with prof.profiling() as handle:
        for _ in range(3):
            model.generate("profile me", GenerationConfig(max_new_tokens=6))
            with _ops.op("layer", layer=0), _ops.op("attention", layer=0):
                _allocator.get_allocator().allocate((64, 64))
                with _ops.op("matmul", layer=0, flops=10, nbytes=10):
                    hot_python(2_000)
        # Longer than the sampler thread's back-off (8 intervals) after op-dense code.
        hot_python(250_000)
    prof.init_profiler(None)
    assert handle.profile is not None
    return handle.profile


def test_chrome_trace_fields_nesting_counters_and_ops(profiled: Profile, tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    assert prof.Profile.save(profiled, path) == str(path)
    doc = json.loads(path.read_text())
    assert doc["displayTimeUnit"] == "ms"
    events = doc["traceEvents"]
    for e in events:
        assert {"ph", "name", "pid", "tid"} <= e.keys()
        if e["ph"] in ("X", "C"):
            assert isinstance(e["ts"], (int, float))
    meta = {(e["name"], e["tid"]) for e in events if e["ph"] == "M"}
    assert ("process_name", 0) in meta and ("thread_name", 1) in meta
    assert assert_nested(events) >= 3  # layer > attention > matmul (and traced calls)
    op_names = {e["name"] for e in events if e["ph"] == "X" and e.get("cat") in ("op", "kv_cache")}
    assert op_names >= RUNTIME_OPS
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert {"memory", "kv_cache.ops", "kv_cache.blocks"} <= counters
    matmul = next(
        e
        for e in events
        if e["ph"] == "X" and e["name"] == "matmul" and e["args"].get("label") == "qkv"
    )
    assert {"layer", "flops", "nbytes", "shape", "phase"} <= matmul["args"].keys()
    attention = [
        e
        for e in events
        if e["ph"] == "X" and e["name"] == "attention" and e["args"].get("allocations") == 1
    ]
    assert attention and attention[0]["args"]["alloc_bytes"] == 64 * 64 * 4
    assert {e["cat"] for e in events if e["ph"] == "X"} >= {"op", "kv_cache", "python", "sampled"}


def test_chrome_trace_clamps_overlapping_events() -> None:
    def ev(name: str, start: int, end: int) -> OpEvent:
        return OpEvent(name, 7, start, end, end - start, 0, {}, 0, 0, 0, 0, "other")

    profile = Profile(
        profile_id="x",
        config=ProfilerConfig(),
        start_unix_ns=0,
        duration_ns=10_000,
        pid=1,
        threads={7: ThreadInfo(7, "main", 1)},
        frames=[],
        stacks=[],
        samples=[],
        ops=[ev("a", 0, 5_000), ev("b", 1_000, 8_000), ev("c", 6_000, 9_000)],
        calls=[],
        counters=[],
        call_counts=None,
    )
    doc = to_chrome_trace(profile)
    assert_nested(doc["traceEvents"])
    assert doc["otherData"]["clamped_events"] == "1"


def test_speedscope_file_validates_against_published_schema(
    profiled: Profile, tmp_path: Path
) -> None:
    path = tmp_path / "run.speedscope.json"
    prof.Profile.save(profiled, path)
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, SCHEMA)
    sampled = [p for p in doc["profiles"] if p["type"] == "sampled"]
    evented = [p for p in doc["profiles"] if p["type"] == "evented"]
    assert sampled and evented
    main = sampled[0]
    assert len(main["samples"]) == len(main["weights"]) > 0
    assert sum(main["weights"]) <= main["endValue"] * 1.01
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "hot_python" in names and "op:matmul" in names
    for p in evented:  # balanced, ordered open/close
        stack: list[int] = []
        last = 0.0
        for e in p["events"]:
            assert e["at"] >= last
            last = e["at"]
            if e["type"] == "O":
                stack.append(e["frame"])
            else:
                assert stack.pop() == e["frame"]
        assert not stack


def test_summary_and_format_choice(profiled: Profile, tmp_path: Path) -> None:
    path = tmp_path / "run.summary.json"
    prof.Profile.save(profiled, path)
    doc = json.loads(path.read_text())
    assert doc["profile_id"] == profiled.profile_id
    assert "hot_python" in {h["name"] for h in doc["hotspots"]}
    assert {s["name"] for s in doc["op_stats"]} >= RUNTIME_OPS
    assert {"prefill", "decode", "sampling", "tokenization"} <= doc["phases_s"].keys()
    forced = tmp_path / "plain.json"
    prof.Profile.save(profiled, forced, format="speedscope")
    jsonschema.validate(json.loads(forced.read_text()), SCHEMA)


def test_bad_format_and_unwritable_path_raise_typed_errors(
    profiled: Profile, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="'pprof'"):
        profiled.save(tmp_path / "p.json", format="pprof")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(HyperionIOError, match="cannot write profile"):
        profiled.save(tmp_path / "a-file" / "p.json")  # a directory that cannot be made
    assert not list(tmp_path.glob("**/*.tmp"))  # no temp file left behind
    saved = profiled.save(tmp_path / "new-dir" / "p.json")  # missing directories are made
    assert Path(saved).stat().st_mode & 0o777 == 0o640 & ~_umask()


def test_save_profile_while_running_writes_a_snapshot(tmp_path: Path) -> None:
    prof.start_profiling()
    try:
        hot_python(20_000)
        prof.save_profile(tmp_path / "live.json")
        assert prof.is_profiling()
    finally:
        prof.stop_profiling()
    assert json.loads((tmp_path / "live.json").read_text())["traceEvents"]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
