"""``analyze_bottlenecks(model)``: op data (from a profile, or a short decode run here)
against measured machine peaks, summarised in one plain-language recommendation."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, Protocol

from hyperion_otel._seams import ops as _ops
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.profiler import api
from hyperion_otel.profiler.bottlenecks import (
    COMPUTE,
    MEMORY,
    OVERHEAD,
    BottleneckReport,
    OpBottleneck,
    classify_ops,
)
from hyperion_otel.profiler.calibrate import MachinePeaks, calibrate
from hyperion_otel.profiler.context import SessionTags
from hyperion_otel.profiler.derive import derive_ops
from hyperion_otel.profiler.ops import OpRecorder
from hyperion_otel.profiler.opstats import phase_split
from hyperion_otel.profiler.session import OpEvent, Profile

__all__ = ["DecodingModel", "analyze_bottlenecks", "recommend"]

DEFAULT_PROMPT = "The quick brown fox jumps over the lazy dog."
_MAX_DECODE_EVENTS = 100_000
LOW_EFFICIENCY = 0.3
OBSERVED_MIN_US = 100.0


class DecodingModel(Protocol):
    """What ``analyze_bottlenecks`` runs a short decode on: the runtime's ``Model``, or any
    model whose ``generate`` marks its ops on the op seam (``hyperion_otel._seams.ops``).

    ``generate(prompt, config)`` gets ``model.greedy_config(n)`` when the model has that
    method (the runtime's ``Model`` does), else an object with ``temperature = 0.0`` and
    ``max_new_tokens = n``; ``result.timings.tokens_per_s``, where present, is reported.
    ``name``, where present, names the model in the report's source.
    """

    def generate(self, prompt: Any, config: Any) -> Any: ...


def _greedy(model: object, max_new_tokens: int) -> object:
    make = getattr(model, "greedy_config", None)
    if callable(make):
        return make(max_new_tokens)
    return SimpleNamespace(temperature=0.0, max_new_tokens=max_new_tokens)


def _decode_ops(
    model: DecodingModel, prompt: Any, max_new_tokens: int
) -> tuple[list[OpEvent], float | None]:
    """Run a warm-up and then a recorded greedy decode; returns its ops and tokens/s."""
    generate = getattr(model, "generate", None)
    if not callable(generate):
        raise InvalidInputError(
            f"analyze_bottlenecks needs a model with generate(prompt, config), got "
            f"{type(model).__name__}",
            field="model",
        )
    generate(prompt, _greedy(model, 2))  # warm caches
    tags = SessionTags("bottlenecks")
    t0 = time.perf_counter_ns()
    recorder = OpRecorder(
        tags, max_events=_MAX_DECODE_EVENTS, record_ops=True, track_cache=False, allocs=None
    )
    _ops.add_listener(recorder)
    try:
        result = generate(prompt, _greedy(model, max_new_tokens))
    finally:
        _ops.remove_listener(recorder)
    tps: float | None = None
    timings = getattr(result, "timings", None)
    rate = getattr(timings, "tokens_per_s", None)
    if isinstance(rate, (int, float)) and rate > 0:
        tps = float(rate)
    me = threading.get_ident()
    return [OpEvent(*e) for e in derive_ops(recorder.tokens(), t0) if e[1] == me], tps


def _with_observed(peaks: MachinePeaks, ops: Any, overhead_us: float) -> MachinePeaks:
    """Raise the calibrated peaks to the best rates ops reached in calls long enough
    (>= ``OBSERVED_MIN_US`` and ``overhead_us``) for the clock to be trusted."""
    min_ns = max(OBSERVED_MIN_US, overhead_us) * 1e3
    best_flops = best_bytes = 0.0
    for op in ops:
        dur = op.end_ns - op.start_ns
        if dur >= min_ns:
            best_flops = max(best_flops, op.flops / dur * 1e9)
            best_bytes = max(best_bytes, op.nbytes / dur * 1e9)
    return peaks.at_least(best_flops, best_bytes)


def _pct(part: float, total: float) -> float:
    return 100.0 * part / total if total > 0 else 0.0


def recommend(
    rows: list[OpBottleneck],
    phases: dict[str, float],
    by_bound: dict[str, float],
    total: float,
    peaks: MachinePeaks,
) -> str:
    """One plain-language sentence or two: what limits speed and what to do about it."""
    if not rows or total <= 0:
        return (
            "No ops were recorded: profile model.generate(...) with "
            "ProfilerConfig(track_functions=True), or pass the model here."
        )
    for phase, advice in (
        ("sampling", "sample on fewer candidates (top_k) or vectorise the sampler"),
        ("tokenization", "cache token ids of repeated prompts or use a faster tokenizer"),
    ):
        share = _pct(phases.get(phase, 0.0), total)
        if share >= 25:
            return f"{phase.capitalize()} takes {share:.0f}% of the time: {advice}."
    dominant = max(by_bound, key=lambda k: by_bound[k])
    share = _pct(by_bound[dominant], total)
    top = next((r for r in rows if r.bound == dominant), rows[0])
    if dominant == MEMORY:
        text = (
            f"Memory-bound: {share:.0f}% of op time streams memory; {top.name} ({top.phase}) "
            f"moves {top.bytes_per_s / 1e9:.1f} GB/s of the {peaks.bytes_per_s / 1e9:.1f} GB/s "
            "this machine reaches, so only fewer bytes per token helps: smaller weights "
            "(fp16/int8) or several requests batched per decode step."
        )
        if top.efficiency < LOW_EFFICIENCY:
            text += (
                " It reaches only a fraction of that bandwidth: look for other processes "
                "or too many BLAS threads competing for memory."
            )
        return text
    if dominant == COMPUTE:
        return (
            f"Compute-bound: {share:.0f}% of op time is arithmetic; {top.name} ({top.phase}) "
            f"runs at {top.flops_per_s / 1e9:.1f} of {peaks.flops_per_s / 1e9:.1f} GFLOP/s: "
            "use all cores for BLAS, shorter prompts or a smaller model."
        )
    if dominant == OVERHEAD:
        return (
            f"Overhead-bound: {share:.0f}% of op time is in calls too short or too slow to "
            f"use the hardware (mostly {top.name}, {top.mean_us:.0f} us per call): Python "
            "dispatch dominates; fuse small ops, reuse buffers, batch tokens or requests."
        )
    return (
        f"{share:.0f}% of op time is in ops without FLOP/byte counts (mostly {top.name}); "
        "mark them with flops= and nbytes= to classify them."
    )


@public
def analyze_bottlenecks(
    model: DecodingModel | None = None,
    *,
    profile: Profile | None = None,
    prompt: Any = DEFAULT_PROMPT,
    max_new_tokens: int = 16,
    fresh: bool = False,
    overhead_us: float = 20.0,
    min_efficiency: float = 0.5,
    max_rows: int = 20,
) -> BottleneckReport:
    """Classify each op as compute-, memory- or overhead-bound against measured peaks.

    Op data comes from ``profile`` if given; else from the running or last profile if it
    recorded ops (unless ``fresh``); else from a short greedy decode of ``model`` run
    here (one warm-up, then ``max_new_tokens`` tokens of ``prompt``, batch 1).
    """
    tps: float | None = None
    if profile is None and not fresh:
        candidate = api.current_session_profile()
        if candidate is not None and candidate.ops:
            profile = candidate
    if profile is not None:
        if not isinstance(profile, Profile):
            raise InvalidInputError(f"profile must be a Profile, got {type(profile).__name__}")
        ops, source = profile.ops, f"profile {profile.profile_id}"
    elif model is None:
        raise InvalidInputError(
            "analyze_bottlenecks needs a model (to run a short decode) or a profile with ops",
            field="model",
        )
    else:
        ops, tps = _decode_ops(model, prompt, max_new_tokens)
        source = f"{max_new_tokens}-token greedy decode of {getattr(model, 'name', type(model).__name__)}"
    peaks = _with_observed(calibrate(), ops, overhead_us)
    rows, by_bound, total = classify_ops(
        list(ops),
        peaks,
        overhead_us=overhead_us,
        min_efficiency=min_efficiency,
        max_rows=max_rows,
    )
    phases = phase_split(ops)
    return BottleneckReport(
        recommendation=recommend(rows, phases, by_bound, total, peaks),
        peaks=peaks,
        ops=rows,
        phases=phases,
        by_bound=by_bound,
        total_seconds=total,
        source=source,
        tokens_per_s=tps,
    )
