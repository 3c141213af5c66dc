"""Bottleneck analysis: roofline classes, GPT-2-shaped decode, recommendation, inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion_otel import profiler as prof
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.profiler.bottlenecks import COMPUTE, MEMORY, OVERHEAD, UNKNOWN, classify_ops
from hyperion_otel.profiler.calibrate import MachinePeaks
from hyperion_otel.profiler.session import OpEvent
from hyperion_otel.runtime import GenerationConfig
from profiler.workload import StandInModel

PEAKS = MachinePeaks(flops_per_s=100e9, bytes_per_s=20e9, seconds=0.0)  # ridge 5 FLOP/B
# The weight GEMVs of 7-12.6 MB each (attn_out, 2.4 MB, is left out: near the overhead
# threshold when the observed bandwidth is high).
BIG_DECODE_MATMULS = ("matmul qkv", "matmul mlp_up", "matmul mlp_down", "matmul lm_head")


def op(
    name: str,
    dur_us: float,
    flops: float = 0,
    nbytes: float = 0,
    self_us: float | None = None,
    label: str | None = None,
) -> OpEvent:
    attrs = {"flops": flops, "nbytes": nbytes} | ({"label": label} if label else {})
    dur = int(dur_us * 1e3)
    own = dur if self_us is None else int(self_us * 1e3)
    return OpEvent(name, 1, 0, dur, own, 0, attrs, 0, 0, 0, 0, "decode")


@pytest.mark.parametrize(
    ("event", "bound"),
    [
        (op("gemv", 400, flops=2e6, nbytes=7e6), MEMORY),  # 0.3 FLOP/B, 17.5 GB/s
        (op("gemv slow", 4000, flops=2e6, nbytes=7e6), MEMORY),  # big but slow: not dispatch
        (op("gemm", 3000, flops=2e8, nbytes=3e6), COMPUTE),  # 67 FLOP/B at 67 GFLOP/s
        (op("norm", 60, flops=6e3, nbytes=6e3), OVERHEAD),  # 0.3 us of work in 60 us
        (op("sampling", 500), UNKNOWN),  # long, no counts
        (op("tiny", 5), OVERHEAD),  # short, no counts
        (op("layer", 900, self_us=100), OVERHEAD),  # container: its own time is glue
    ],
)
def test_roofline_classes(event: OpEvent, bound: str) -> None:
    (row,), _, _ = classify_ops([event], PEAKS)
    assert row.bound == bound


def test_rows_group_by_op_label_and_phase_with_time_shares() -> None:
    events = [op("matmul", 400, 2e6, 7e6, label="qkv")] * 3 + [op("norm", 50, 1e3, 1e3)] * 4
    rows, by_bound, total = classify_ops(events, PEAKS)
    assert [r.name for r in rows] == ["matmul qkv", "norm"]
    assert rows[0].calls == 3 and rows[0].bytes_per_s == pytest.approx(7e6 / 400e-6)
    assert rows[0].intensity == pytest.approx(2 / 7)
    assert sum(r.percent for r in rows) == pytest.approx(100)
    assert total == pytest.approx(1.4e-3)
    assert by_bound == pytest.approx({MEMORY: 1.2e-3, OVERHEAD: 2e-4})
    with pytest.raises(InvalidInputError, match="max_rows"):
        classify_ops(events, PEAKS, max_rows=0)


def _assert_gpt2_decode_report(report: prof.BottleneckReport) -> None:
    text = str(report)
    assert text.startswith("Recommendation: ") and report.recommendation in text
    rows = {(r.name, r.phase): r for r in report.ops}
    peaks = report.peaks
    for name in BIG_DECODE_MATMULS:
        row = rows[(name, "decode")]
        assert row.bound == MEMORY, text
        assert row.intensity == pytest.approx(0.5, rel=0.01)  # batch-1 GEMV: 2 FLOPs per 4 B
        assert 0.05e9 < row.bytes_per_s < 20 * peaks.bytes_per_s, text
        assert 0 < row.flops_per_s < peaks.flops_per_s, text
    assert 1e9 < peaks.flops_per_s < 1e13 and 1e8 < peaks.bytes_per_s < 1e12
    assert {"prefill", "decode", "sampling"} <= report.phases.keys()
    assert sum(r.percent for r in report.ops) <= 100.0 + 1e-6
    assert "Memory-bound" in report.recommendation or report.by_bound.get(MEMORY, 0) > 0


def test_gpt2_shaped_standin_decode_big_matmuls_are_memory_bound(standin: StandInModel) -> None:
    report = prof.analyze_bottlenecks(standin, max_new_tokens=6, fresh=True)
    assert report.source.startswith("6-token greedy decode")
    _assert_gpt2_decode_report(report)


def test_gpt2_shaped_runtime_decode_big_matmuls_are_memory_bound(tmp_path: Path) -> None:
    """The runtime's GPT-2 with GPT-2 small's widths (d_model 768, 12 heads, 3072 MLP) but 2
    layers and a 4096-token vocabulary: the same GEMV shapes per token at a fraction of the
    load time; each layer GEMV still streams 2.4-9.4 MB of weights, more than L2."""
    from hyperion_otel.runtime import load_model
    from profiler.checkpoint import write_gpt2

    model = load_model(str(write_gpt2(tmp_path / "gpt2-shaped")))
    report = prof.analyze_bottlenecks(model, prompt=list(range(1, 9)), max_new_tokens=6)
    _assert_gpt2_decode_report(report)
    assert report.tokens_per_s is not None and report.tokens_per_s > 0


def test_analysis_uses_the_last_profile_when_it_has_ops(small_standin: StandInModel) -> None:
    with prof.profiling():
        small_standin.generate("reuse", GenerationConfig(max_new_tokens=3))
    report = prof.analyze_bottlenecks(small_standin)
    assert report.source == f"profile {prof.last_profile().profile_id}"  # type: ignore[union-attr]
    assert report.ops


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="needs a model"):
        prof.analyze_bottlenecks()
    with pytest.raises(InvalidInputError, match="generate"):
        prof.analyze_bottlenecks(object(), fresh=True)
    with pytest.raises(InvalidInputError, match="Profile"):
        prof.analyze_bottlenecks(profile="p.json")  # type: ignore[arg-type]


def test_empty_profile_recommends_how_to_get_data() -> None:
    with prof.profiling(prof.ProfilerConfig(track_functions=False)) as handle:
        pass
    report = prof.analyze_bottlenecks(profile=handle.profile)
    assert "No ops were recorded" in report.recommendation and report.ops == []


def test_peaks_are_raised_to_rates_ops_reached() -> None:
    fast = op("gemv", 200, flops=2e6, nbytes=7e9)  # 35 TB/s: above any calibration
    report = prof.analyze_bottlenecks(profile=_profile_of([fast]))
    assert report.peaks.bytes_per_s == pytest.approx(35e12) and report.peaks.raised_by_ops
    assert "raised to rates ops reached" in str(report)
    assert PEAKS.at_least(1.0, 1.0) is PEAKS


def _profile_of(ops: list[OpEvent]) -> prof.Profile:
    from hyperion_otel.profiler.config import ProfilerConfig
    from hyperion_otel.profiler.session import ThreadInfo

    return prof.Profile(
        profile_id="synthetic",
        config=ProfilerConfig(),
        start_unix_ns=0,
        duration_ns=max(o.end_ns for o in ops),
        pid=1,
        threads={1: ThreadInfo(1, "main", 1)},
        frames=[],
        stacks=[],
        samples=[],
        ops=ops,
        calls=[],
        counters=[],
        call_counts=None,
    )


def test_calibration_is_cached_and_an_implausible_ridge_is_corrected() -> None:
    from hyperion_otel.profiler.calibrate import MIN_RIDGE, calibrate, plausible_peaks

    first = calibrate()
    if not first.disturbed:
        assert calibrate() is first
    assert first.flops_per_s >= first.bytes_per_s  # ridge >= 1 FLOP/B on any CPU
    sane = plausible_peaks(100e9, 20e9)
    assert (sane.flops_per_s, sane.disturbed) == (100e9, False)
    overloaded = plausible_peaks(2e9, 6e9)  # a GEMM starved by a busy machine
    assert overloaded.disturbed and overloaded.ridge_intensity == MIN_RIDGE
    assert "calibration disturbed" in str(prof.BottleneckReport("r", overloaded))
