"""transformers ``generate`` under the instrumentor: the GenAI span, its children, usage
counted from the ids, TTFT/TPOT against our own clock, the server metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch
from opentelemetry.trace import SpanKind, StatusCode
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    TextIteratorStreamer,
    pipeline,
)
from transformers.generation.streamers import BaseStreamer

from hyperion_otel import semconv
from hyperion_otel.runtime import enable_generation_debug
from hyperion_otel.testing import TestContext
from integrations.tiny import EOS, PAD, Tiny, word_tokenizer

SPAN = "text_completion"


class ForceEos(LogitsProcessor):
    """Makes ``row`` pick EOS at new-token index ``step`` (a user logits processor)."""

    def __init__(self, prompt_len: int, plan: dict[int, int]) -> None:
        self.prompt_len, self.plan = prompt_len, plan

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        step = input_ids.shape[1] - self.prompt_len
        for row, at in self.plan.items():
            if step == at:
                scores[row, :] = -float("inf")
                scores[row, EOS] = 0.0
            else:
                scores[row, EOS] = -float("inf")
        return scores


class TimedStreamer(BaseStreamer):
    """Records when generate hands over each step's ids (our own measurement)."""

    def __init__(self) -> None:
        self.times: list[int] = []

    def put(self, value: Any) -> None:
        self.times.append(time.time_ns())

    def end(self) -> None:
        pass


def _one(telemetry: TestContext, model: str) -> Any:
    spans = [s for s in telemetry.spans if s.name == f"{SPAN} {model}"]
    assert len(spans) == 1, [s.name for s in telemetry.spans]
    return spans[0]


def _children(telemetry: TestContext, span: Any) -> dict[str, Any]:
    return {s.name: s for s in telemetry.children_of(span)}


def test_greedy_call_gets_the_runtimes_span_tree_and_counts(
    instrumented, telemetry: TestContext, tiny: Tiny
) -> None:
    ids = torch.tensor([[4, 5, 6, 7, 8]])
    streamer = TimedStreamer()
    t0 = time.time_ns()
    out = tiny.model.generate(ids, max_new_tokens=7, do_sample=False, streamer=streamer)
    new = out[0, ids.shape[1] :].tolist()
    expected = new.index(EOS) + 1 if EOS in new else len(new)

    name = tiny.path.name
    span = _one(telemetry, name)
    a = span.attributes
    assert span.kind == SpanKind.INTERNAL
    assert span.status.status_code == StatusCode.UNSET
    assert a[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[semconv.GEN_AI_PROVIDER_NAME] == "transformers"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == a[semconv.GEN_AI_RESPONSE_MODEL] == name
    assert a[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 7
    assert a[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.0  # greedy
    assert semconv.GEN_AI_REQUEST_TOP_K not in a and semconv.GEN_AI_REQUEST_TOP_P not in a
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == expected
    reason = "stop" if EOS in new else "length"
    assert tuple(a[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == (reason,)
    for value in a.values():  # no content without the opt-in
        assert not isinstance(value, str) or "parts" not in value

    kids = _children(telemetry, span)
    assert set(kids) == {semconv.SPAN_PREFILL, semconv.SPAN_DECODE}
    pre, dec = kids[semconv.SPAN_PREFILL], kids[semconv.SPAN_DECODE]
    assert pre.attributes[semconv.HYPERION_PREFILL_TOKENS] == 5
    assert dec.attributes[semconv.HYPERION_DECODE_STEPS] == len(new) - 1
    assert span.start_time <= pre.start_time <= pre.end_time <= dec.start_time
    assert dec.end_time <= span.end_time
    assert t0 <= span.start_time
    # Our streamer saw the prompt, then one put per new token: each handover happens in the
    # same step as the clock's reading (µs apart; transformers 5 hands over just after it).
    assert len(streamer.times) == 1 + len(new)
    assert abs(pre.end_time - streamer.times[1]) < 5_000_000
    assert abs(dec.end_time - streamer.times[-1]) < 5_000_000
    assert not telemetry.spans_named(semconv.SPAN_DECODE_STEP)


def test_batch_is_one_span_with_usage_summed_and_reasons_per_sequence(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    ids = torch.tensor([[4, 5, 6, 7], [PAD, PAD, 9, 10], [PAD, 11, 12, 13]])
    mask = (ids != PAD).long()
    procs = LogitsProcessorList([ForceEos(ids.shape[1], {0: 2, 1: -1, 2: 0})])
    out = tiny_gpt2.model.generate(
        ids, attention_mask=mask, max_new_tokens=6, do_sample=False, logits_processor=procs
    )
    new = out[:, ids.shape[1] :].tolist()
    # Counted on the raw output: rows end at their EOS; later ids are the pad fill.
    assert new[0][:3] == [*new[0][:2], EOS] and set(new[0][3:]) == {PAD}
    assert new[2][0] == EOS and set(new[2][1:]) == {PAD}
    assert EOS not in new[1] and len(new[1]) == 6

    span = _one(telemetry, "tiny-gpt2")
    a = span.attributes
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == int(mask.sum()) == 4 + 2 + 3
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3 + 6 + 1
    assert tuple(a[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ("stop", "length", "stop")
    assert len(telemetry.spans_named(f"{SPAN} tiny-gpt2")) == 1
    assert len(telemetry.spans_named(semconv.SPAN_PREFILL)) == 1
    assert not telemetry.spans_named(semconv.SPAN_DECODE_STEP)


def test_sampling_parameters_come_from_the_effective_generation_config(
    instrumented, telemetry: TestContext, tiny_llama: Tiny
) -> None:
    model = tiny_llama.model
    saved = model.generation_config.top_k
    model.generation_config.top_k = 7  # model default, not overridden by the call
    try:
        model.generate(
            torch.tensor([[4, 5, 6]]),
            generation_config=GenerationConfig(do_sample=True, temperature=0.6, top_p=0.5),
            top_p=0.9,  # a keyword argument wins over the call's config
            max_length=10,
        )
    finally:
        model.generation_config.top_k = saved
    a = _one(telemetry, "tiny-llama").attributes
    assert a[semconv.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.6)
    assert a[semconv.GEN_AI_REQUEST_TOP_P] == pytest.approx(0.9)
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 7.0
    assert a[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 10 - 3  # max_length less the prompt
    assert semconv.GEN_AI_REQUEST_SEED not in a  # generate takes no seed: unknown


def test_metrics_have_the_runtimes_names_units_buckets_and_values(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    ids = torch.tensor([[4, 5, 6], [7, 8, 9]])
    tiny_gpt2.model.generate(ids, max_new_tokens=5, do_sample=False, suppress_tokens=[EOS])
    span = _one(telemetry, "tiny-gpt2")
    kids = _children(telemetry, span)
    pre, dec = kids[semconv.SPAN_PREFILL], kids[semconv.SPAN_DECODE]
    m = telemetry.metrics
    expect = {
        semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION: semconv.BUCKETS_REQUEST_DURATION,
        semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN: semconv.BUCKETS_TIME_TO_FIRST_TOKEN,
        semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN: semconv.BUCKETS_TIME_PER_OUTPUT_TOKEN,
        semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE: semconv.BUCKETS_TOKEN_USAGE,
    }
    for name, buckets in expect.items():
        for point in m[name]:
            assert tuple(point.explicit_bounds) == buckets
            assert point.attributes[semconv.GEN_AI_PROVIDER_NAME] == "transformers"
            assert point.attributes[semconv.GEN_AI_REQUEST_MODEL] == "tiny-gpt2"
    (ttft,) = m[semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN]
    assert ttft.sum == pytest.approx((pre.end_time - pre.start_time) / 1e9, abs=1e-6)
    (tpot,) = m[semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN]
    assert tpot.sum == pytest.approx((dec.end_time - dec.start_time) / 1e9 / 4, abs=1e-6)
    (duration,) = m[semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION]
    assert duration.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-6)
    usage = {
        p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p.sum
        for p in m[semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE]
    }
    assert usage == {"input": 6, "output": 10}


def test_text_iterator_streamer_in_a_thread_gets_ttft(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    tok = word_tokenizer()
    streamer = TextIteratorStreamer(tok, skip_prompt=True)
    ids = torch.tensor([[4, 5, 6]])
    kwargs = {"max_new_tokens": 6, "do_sample": False, "suppress_tokens": [EOS]}
    t0 = time.time_ns()
    worker = threading.Thread(
        target=tiny_gpt2.model.generate, args=(ids,), kwargs={**kwargs, "streamer": streamer}
    )
    worker.start()
    first_text_ns = None
    pieces = []
    for piece in streamer:
        if first_text_ns is None:
            first_text_ns = time.time_ns()
        pieces.append(piece)
    worker.join()
    span = _one(telemetry, "tiny-gpt2")
    pre = _children(telemetry, span)[semconv.SPAN_PREFILL]
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert t0 <= span.start_time <= pre.end_time
    assert first_text_ns is not None and pre.end_time <= first_text_ns
    (ttft,) = telemetry.metrics[semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN]
    assert ttft.count == 1 and ttft.sum <= (first_text_ns - t0) / 1e9


def test_pipeline_text_generation_is_traced(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    pipe = pipeline("text-generation", model=str(tiny_gpt2.path))
    result = pipe("the cat sat", max_new_tokens=4, do_sample=False)
    assert result
    span = _one(telemetry, "tiny-gpt2")
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3


def test_generation_debug_adds_one_span_per_decode_step(
    instrumented, telemetry: TestContext, tiny_llama: Tiny
) -> None:
    enable_generation_debug(True)
    try:
        out = tiny_llama.model.generate(
            torch.tensor([[4, 5, 6]]), max_new_tokens=5, do_sample=False, suppress_tokens=[EOS]
        )
    finally:
        enable_generation_debug(False)
    steps = sorted(
        telemetry.spans_named(semconv.SPAN_DECODE_STEP),
        key=lambda s: s.attributes[semconv.HYPERION_STEP],
    )
    dec = telemetry.span(semconv.SPAN_DECODE)
    assert [s.attributes[semconv.HYPERION_STEP] for s in steps] == [1, 2, 3, 4]
    assert [s.attributes[semconv.HYPERION_TOKEN_ID] for s in steps] == out[0, 4:].tolist()
    assert all(s.parent.span_id == dec.context.span_id for s in steps)
    assert steps[0].start_time == dec.start_time and steps[-1].end_time == dec.end_time
