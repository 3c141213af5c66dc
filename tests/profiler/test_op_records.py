"""Op records past the interning threshold give back exactly the attributes of their op."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from hyperion_otel import profiler as prof
from hyperion_otel._seams import ops as _ops
from hyperion_otel.profiler import ops as op_records


def _attrs(i: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {"layer": i % 3, "shape": (1, 4 + i % 5), "flops": 10 * (i % 7)}
    if i % 11 == 0:
        attrs["label"] = "qkv"
    if i % 13 == 0:
        attrs["extra"] = [i]  # unhashable: that record keeps its own
    return attrs


def test_interned_records_give_back_every_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(op_records, "_INTERN_AFTER", 20)
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)) as handle:
        for i in range(300):
            with _ops.op("matmul", **_attrs(i)):
                pass
    profile = handle.profile
    assert profile is not None
    assert [dict(o.attrs) for o in profile.ops] == [_attrs(i) for i in range(300)]
    # Past the threshold, ops with equal (hashable) attributes share one mapping.
    late = [o.attrs for o in profile.ops[20:]]
    hashable = [a for a in late if "extra" not in a]
    distinct = {tuple(sorted(a.items())) for a in hashable}
    assert len({id(a) for a in hashable}) == len(distinct) < len(hashable)


def test_interned_records_are_not_tracked_by_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(op_records, "_INTERN_AFTER", 20)
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)):
        for i in range(200):
            with _ops.op("norm", layer=i % 4, shape=(1, 8)):
                pass
        recorder = next(lst for lst in _ops._listeners if isinstance(lst, op_records.OpRecorder))
        gc.collect()
        gc.collect()  # a record is untracked once its key is: one pass may see it first
        records = list(recorder.events)
        # The first ones hold the op's dict (tracked for good); the interned ones are not
        # tracked once the collector has looked at them.
        assert all(gc.is_tracked(r) for r in records[:20])
        assert not any(gc.is_tracked(r) for r in records[20:])


def test_the_intern_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(op_records, "_INTERN_AFTER", 0)
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0, max_events=50)) as handle:
        for i in range(400):
            with _ops.op("attention", length=i):  # a new set of attributes each time
                pass
        recorder = next(lst for lst in _ops._listeners if isinstance(lst, op_records.OpRecorder))
        assert len(recorder._attrs_keys) <= 50
    profile = handle.profile
    assert profile is not None
    assert [o.attrs["length"] for o in profile.ops] == list(range(350, 400))
