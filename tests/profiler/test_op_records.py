"""Op records give back exactly the attributes of their op, cost the collector nothing,
stay within their bound, and are the same whichever path the seam takes."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from hyperion_otel import profiler as prof
from hyperion_otel._seams import ops as _ops
from hyperion_otel.profiler import ops as op_records


def _attrs(i: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {"layer": i % 3, "shape": (1, 4 + i % 5), "flops": 10 * (i % 7)}
    if i % 11 == 0:
        attrs["label"] = "qkv"
    if i % 13 == 0:
        attrs["extra"] = [i]  # unhashable and a container: still given back as it was
    return attrs


def _recorder() -> op_records.OpRecorder:
    return next(lst for lst in _ops._listeners if isinstance(lst, op_records.OpRecorder))


def test_records_give_back_every_attribute() -> None:
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)) as handle:
        for i in range(300):
            with _ops.op("matmul", **_attrs(i)):
                pass
    profile = handle.profile
    assert profile is not None
    assert [o.name for o in profile.ops] == ["matmul"] * 300
    assert [dict(o.attrs) for o in profile.ops] == [_attrs(i) for i in range(300)]


def test_ops_of_one_site_share_one_mapping() -> None:
    sites = [_ops.site("norm", layer=layer, shape=(1, 8)) for layer in range(4)]
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)) as handle:
        for i in range(200):
            with _ops.op_at(sites[i % 4]):
                pass
    profile = handle.profile
    assert profile is not None
    assert [o.attrs["layer"] for o in profile.ops] == [i % 4 for i in range(200)]
    assert len({id(o.attrs) for o in profile.ops}) == 4


def test_records_are_not_tracked_by_the_collector() -> None:
    s = _ops.site("norm", layer=1, shape=(1, 8))
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)):
        for i in range(200):
            with _ops.op("attention", layer=i % 4, shape=(1, 8, i)):
                pass
            with _ops.op_at(s):
                pass
        for _ in range(4):  # a tuple is untracked once its parts are: a pass per level
            gc.collect()
        recorder = _recorder()
        assert recorder.kept == 400
        # Records are flat items of the ring: sites, span infos and ints, none of them
        # left for the collector to track.
        assert not any(gc.is_tracked(item) for item in recorder.events)


def test_the_ring_is_bounded() -> None:
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0, max_events=50)) as handle:
        for i in range(400):
            with _ops.op("attention", length=i):
                pass
        assert _recorder().kept == 50
    profile = handle.profile
    assert profile is not None
    assert [o.attrs["length"] for o in profile.ops] == list(range(350, 400))
    assert profile.dropped["ops"] == 350


class _Seen:
    def __init__(self) -> None:
        self.names: list[tuple[str, dict[str, Any]]] = []

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        self.names.append((name, dict(attrs)))
        return None

    def on_op_end(self, token: object) -> None:
        return None


def test_alone_the_recorder_supplies_the_block_and_beside_another_listener_sees_the_same() -> None:
    s = _ops.site("matmul", layer=2, label="qkv", shape=(1, 4, 8))
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)) as alone:
        block = _ops.op_at(s)
        assert type(block).__name__ == "_Block"  # no seam object in between
        with block:
            pass
        with _ops.op("norm", layer=0):
            pass
    other = _Seen()
    _ops.add_listener(other)
    try:
        with prof.profiling(prof.ProfilerConfig(sample_interval_ms=10.0)) as beside:
            with _ops.op_at(s):
                pass
            with _ops.op("norm", layer=0):
                pass
    finally:
        _ops.remove_listener(other)
    assert alone.profile is not None and beside.profile is not None
    for profile in (alone.profile, beside.profile):
        assert [(o.name, dict(o.attrs)) for o in profile.ops] == [
            ("matmul", {"layer": 2, "label": "qkv", "shape": (1, 4, 8)}),
            ("norm", {"layer": 0}),
        ]
    assert other.names == [
        ("matmul", {"layer": 2, "label": "qkv", "shape": (1, 4, 8)}),
        ("norm", {"layer": 0}),
    ]
    assert _ops.block is None and not _ops.has_listeners()
