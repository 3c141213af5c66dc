"""Telemetry: samples carry the active request span; spans carry the profile id."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import profiler as prof, semconv
from hyperion_otel._seams import ops as _ops, telemetry as _telemetry
from profiler.workload import StandInModel, hot_python


def _generate_span_work(model: StandInModel) -> None:
    model.generate("span me", None)
    deadline = time.perf_counter() + 0.1
    while time.perf_counter() < deadline:
        hot_python(10_000)


def test_samples_carry_the_span_id_of_the_active_generate_span(
    spans: InMemorySpanExporter, small_standin: StandInModel
) -> None:
    profile_id = prof.start_profiling()
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:  # outside any request
        hot_python(5_000)
    # Child spans (as the runtime's decode spans) must not replace the request span.
    with (
        _telemetry.tracer().start_as_current_span("text_completion stand-in") as span,
        prof.profile_span(),
        _telemetry.tracer().start_as_current_span("hyperion.decode"),
    ):
        _generate_span_work(small_standin)
    profile = prof.stop_profiling()
    ctx = span.get_span_context()
    tagged = profile.samples_for(span_id=ctx.span_id)
    assert len(tagged) >= 5
    assert all(s.trace_id == ctx.trace_id for s in tagged)
    assert len(profile.samples_for(trace_id=ctx.trace_id)) == len(tagged)
    assert any(s.span_id == 0 for s in profile.samples)  # the untagged warm-up
    leafs = {profile.frames[profile.stacks[s.stack][-1]].name for s in tagged}
    assert "hot_python" in leafs

    finished = {s.name: s for s in spans.get_finished_spans()}
    assert (
        finished["text_completion stand-in"].attributes[semconv.HYPERION_PROFILE_ID] == profile_id
    )
    session = finished[semconv.SPAN_PROFILE]
    assert session.attributes[semconv.HYPERION_PROFILE_ID] == profile_id
    assert session.attributes[semconv.HYPERION_PROFILE_SAMPLES] == len(profile.samples)


def test_ops_run_under_a_span_are_tagged_with_it_without_runtime_help(
    spans: InMemorySpanExporter,
) -> None:
    prof.start_profiling()
    with (
        _telemetry.tracer().start_as_current_span("hyperion.decode") as span,
        _ops.op("matmul", flops=1, nbytes=1),
    ):
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            hot_python(5_000)
    profile = prof.stop_profiling()
    (event,) = profile.ops
    ctx = span.get_span_context()
    assert (event.trace_id, event.span_id) == (ctx.trace_id, ctx.span_id)
    inside = [s for s in profile.samples if event.start_ns <= s.t_ns <= event.end_ns]
    assert inside and all(s.span_id == ctx.span_id for s in inside)
    assert event.phase == "decode"  # from the SDK span's name
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["hyperion.decode"].attributes[semconv.HYPERION_PROFILE_ID] == profile.profile_id


def test_profile_span_and_profile_id_are_no_ops_without_a_session() -> None:
    assert prof.current_profile_id() is None
    with prof.profile_span():
        pass
    assert trace.get_current_span() is trace.INVALID_SPAN
