"""The facilities reach transformers: content opt-in, error tracking, resource limits,
profiler tagging; and instrument()/uninstrument() leave transformers as found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from opentelemetry.trace import StatusCode
from threadpoolctl import threadpool_info
from transformers import (
    GenerationMixin,
    LlamaForCausalLM,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation import utils as generation_utils

from hyperion_otel import profiler as prof, semconv
from hyperion_otel.errors import (
    ResourceLimitError,
    clear_last_error,
    get_last_error,
    remove_error_callback,
    set_error_callback,
)
from hyperion_otel.integrations.transformers import TransformersInstrumentor
from hyperion_otel.resources import (
    ResourceLimits,
    apply_resource_settings,
    get_resource_limits,
    get_resource_usage,
    set_resource_limits,
)
from hyperion_otel.testing import TestContext
from integrations.tiny import EOS, Tiny, word_tokenizer

CONTENT = semconv.ENV_CAPTURE_MESSAGE_CONTENT


def _span(telemetry: TestContext, tiny: Tiny) -> Any:
    return telemetry.span(f"text_completion {tiny.path.name}")


# --- instrument / uninstrument ----------------------------------------------------------------


def _class_state() -> dict[str, dict[str, Any]]:
    return {
        c.__qualname__: dict(vars(c))
        for c in (GenerationMixin, PreTrainedModel, LlamaForCausalLM, StoppingCriteriaList)
    }


def test_uninstrument_leaves_transformers_as_found(
    telemetry: TestContext, tiny_llama: Tiny
) -> None:
    original = vars(GenerationMixin)["generate"]
    before = _class_state()
    module_before = dict(vars(generation_utils))
    model_before = dict(vars(tiny_llama.model))
    inst = TransformersInstrumentor()
    for _ in range(2):  # and again: the cycle is repeatable
        inst.instrument()
        assert GenerationMixin.generate is not original
        assert GenerationMixin.generate.__wrapped__ is original
        tiny_llama.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)
        inst.uninstrument()
        assert vars(GenerationMixin)["generate"] is original
        assert GenerationMixin.generate is original
        assert _class_state() == before
        assert dict(vars(generation_utils)) == module_before
        assert dict(vars(tiny_llama.model)) == model_before
    assert len(telemetry.spans_named("text_completion tiny-llama")) == 2
    tiny_llama.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)  # not traced any more
    assert len(telemetry.spans_named("text_completion tiny-llama")) == 2


def test_a_wrapper_installed_on_top_is_kept_and_ours_passes_through(
    telemetry: TestContext, tiny_llama: Tiny
) -> None:
    original = vars(GenerationMixin)["generate"]
    inst = TransformersInstrumentor()
    inst.instrument()
    ours = GenerationMixin.generate
    calls = []

    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return ours(self, *args, **kwargs)

    GenerationMixin.generate = theirs
    try:
        inst.uninstrument()
        assert vars(GenerationMixin)["generate"] is theirs
        tiny_llama.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)
        assert calls == [1] and not telemetry.spans_named("text_completion tiny-llama")
    finally:
        GenerationMixin.generate = original


def test_the_callers_stopping_criteria_list_is_not_modified(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    class Never(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool)

    mine = StoppingCriteriaList([Never()])
    tiny_gpt2.model.generate(torch.tensor([[4, 5]]), max_new_tokens=3, stopping_criteria=mine)
    assert len(mine) == 1
    assert _span(telemetry, tiny_gpt2).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] >= 1


# --- content opt-in ---------------------------------------------------------------------------


def test_content_is_captured_only_with_the_opt_in(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = word_tokenizer()
    tok.padding_side = "left"
    enc = tok(["the cat sat", "dog ran"], return_tensors="pt", padding=True)
    kwargs = {"max_new_tokens": 4, "do_sample": False, "suppress_tokens": [EOS]}

    monkeypatch.delenv(CONTENT, raising=False)
    tiny_gpt2.model.generate(**enc, **kwargs)
    a = telemetry.spans[-1].attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in a and semconv.GEN_AI_OUTPUT_MESSAGES not in a

    monkeypatch.setenv(CONTENT, "true")
    out = tiny_gpt2.model.generate(**enc, **kwargs)
    span = telemetry.spans[-1]
    inputs = json.loads(span.attributes[semconv.GEN_AI_INPUT_MESSAGES])
    # The tokenizer saved next to the model was found locally (no tokenizer passed).
    assert [m["parts"][0]["content"] for m in inputs] == ["the cat sat", "dog ran"]
    assert {m["role"] for m in inputs} == {"user"}
    outputs = json.loads(span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    texts = [tok.decode(row[enc["input_ids"].shape[1] :]) for row in out.tolist()]
    assert [m["parts"][0]["content"] for m in outputs] == texts
    assert [m["finish_reason"] for m in outputs] == ["length", "length"]


def test_without_aword_tokenizer_content_is_token_ids(
    instrumented, telemetry: TestContext, tiny_llama: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONTENT, "true")
    out = tiny_llama.model.generate(
        torch.tensor([[4, 5, 6]]), max_new_tokens=3, do_sample=False, suppress_tokens=[EOS]
    )
    a = _span(telemetry, tiny_llama).attributes
    (msg,) = json.loads(a[semconv.GEN_AI_INPUT_MESSAGES])
    assert msg["parts"] == [{"type": "token_ids", "content": [4, 5, 6]}]
    (msg,) = json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert msg["parts"][0]["content"] == out[0, 3:].tolist()


# --- errors -----------------------------------------------------------------------------------


def test_a_failing_call_goes_through_error_tracking(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    seen = []
    cb = set_error_callback(seen.append)
    clear_last_error()
    try:
        with pytest.raises(IndexError) as info:  # an id past the vocabulary: the embedding raises
            tiny_gpt2.model.generate(torch.tensor([[4, 10_000]]), max_new_tokens=2)
    finally:
        remove_error_callback(cb)
    # The caller gets transformers' own exception; error tracking holds it wrapped.
    span = _span(telemetry, tiny_gpt2)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "IndexError"
    last = get_last_error()
    assert last is not None and last.__cause__ is info.value
    assert last.message.startswith("unexpected IndexError")
    assert seen == [last]
    (errors,) = telemetry.metrics[semconv.METRIC_ERRORS]
    assert errors.value == 1
    (duration,) = telemetry.metrics[semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION]
    assert duration.attributes[semconv.ERROR_TYPE] == "IndexError"
    assert semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN not in telemetry.metrics


# --- resource limits --------------------------------------------------------------------------


class ThreadProbe(StoppingCriteria):
    """Reads the thread counts in force while generate runs."""

    def __init__(self) -> None:
        self.torch: list[int] = []
        self.pools: list[int] = []

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        self.torch.append(torch.get_num_threads())
        self.pools.append(max(i["num_threads"] for i in threadpool_info()))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def test_thread_limit_caps_torch_and_blas_during_the_call_and_restores_them(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    before_torch = torch.get_num_threads()
    before_pools = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    assert before_torch > 1, "needs a machine with more than one core to see the cap"
    probe = ThreadProbe()
    set_resource_limits(tiny_gpt2.model, ResourceLimits(max_threads=1))
    try:
        assert get_resource_limits(tiny_gpt2.model).max_threads == 1
        tiny_gpt2.model.generate(
            torch.tensor([[4, 5]]),
            max_new_tokens=3,
            stopping_criteria=StoppingCriteriaList([probe]),
        )
        assert get_resource_usage(tiny_gpt2.model).blas_threads <= 1
    finally:
        set_resource_limits(tiny_gpt2.model, None)
    assert probe.torch == [1, 1, 1] and probe.pools == [1, 1, 1]
    assert torch.get_num_threads() == before_torch
    assert {i["filepath"]: i["num_threads"] for i in threadpool_info()} == before_pools
    assert get_resource_limits(tiny_gpt2.model) == ResourceLimits()


def test_memory_limit_refuses_the_call_with_a_resource_limit_error(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    set_resource_limits(tiny_gpt2.model, ResourceLimits(max_memory_mb=1))
    try:
        with pytest.raises(ResourceLimitError) as info:
            tiny_gpt2.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)
    finally:
        set_resource_limits(tiny_gpt2.model, None)
    assert info.value.details["when"] == "before"
    assert info.value.details["model"] == str(tiny_gpt2.path)
    span = _span(telemetry, tiny_gpt2)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.ResourceLimitError"
    assert get_last_error() is info.value
    # No limit any more: the same call runs.
    tiny_gpt2.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)


# --- profiler ---------------------------------------------------------------------------------


def test_profile_samples_carry_the_generate_span(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny, tmp_path: Path
) -> None:
    profile_id = prof.start_profiling()
    try:
        tiny_gpt2.model.generate(
            torch.tensor([[4, 5, 6]]), max_new_tokens=24, do_sample=False, suppress_tokens=[EOS]
        )
    finally:
        profile = prof.stop_profiling()
    span = _span(telemetry, tiny_gpt2)
    assert span.attributes[semconv.HYPERION_PROFILE_ID] == profile_id
    ctx = span.context
    tagged = profile.samples_for(span_id=ctx.span_id)
    assert len(tagged) >= 5
    assert all(s.trace_id == ctx.trace_id for s in tagged)
    files = {profile.frames[i].file for s in tagged for i in profile.stacks[s.stack]}
    assert any(f.endswith("modeling_gpt2.py") for f in files)
    hot = prof.get_hotspots(top=50).hotspots
    assert any(h.file.endswith(".py") and "transformers" in h.file for h in hot)
    path = prof.save_profile(tmp_path / "profile.json")
    saved = json.loads(Path(path).read_text())
    assert profile_id in json.dumps(saved["traceEvents"][:5])
    assert any(
        e.get("cat") == "sampled" and "modeling_gpt2.py" in str(e.get("args"))
        for e in saved["traceEvents"]
    )


def test_cpu_limit_throttles_after_the_call(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    set_resource_limits(tiny_gpt2.model, ResourceLimits(max_cpu_percent=10))
    try:
        tiny_gpt2.model.generate(torch.tensor([[4, 5]]), max_new_tokens=4, do_sample=False)
        assert get_resource_usage(tiny_gpt2.model).throttle_s > 0
    finally:
        set_resource_limits(tiny_gpt2.model, None)


def test_process_default_limits_apply_to_a_model_without_its_own(
    instrumented, telemetry: TestContext, tiny_gpt2: Tiny
) -> None:
    probe = ThreadProbe()
    undo = apply_resource_settings(max_threads=1, process_metrics=False)
    try:
        assert get_resource_limits(tiny_gpt2.model).max_threads == 1
        tiny_gpt2.model.generate(
            torch.tensor([[4, 5]]),
            max_new_tokens=2,
            stopping_criteria=StoppingCriteriaList([probe]),
        )
        set_resource_limits(tiny_gpt2.model, ResourceLimits())  # its own: none at all
        tiny_gpt2.model.generate(
            torch.tensor([[4, 5]]),
            max_new_tokens=2,
            stopping_criteria=StoppingCriteriaList([probe]),
        )
    finally:
        set_resource_limits(tiny_gpt2.model, None)
        undo()
    assert probe.torch[:2] == [1, 1]
    assert probe.torch[2:] == [torch.get_num_threads()] * 2 and torch.get_num_threads() > 1


def test_the_tokenizer_argument_gives_text_content(
    instrumented, telemetry: TestContext, tiny_llama: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONTENT, "true")
    tok = word_tokenizer()  # tiny-llama has no tokenizer files: only the argument gives one
    ids = tok(["the cat sat"], return_tensors="pt")["input_ids"]
    tiny_llama.model.generate(ids, max_new_tokens=2, do_sample=False, tokenizer=tok)
    (msg,) = json.loads(_span(telemetry, tiny_llama).attributes[semconv.GEN_AI_INPUT_MESSAGES])
    assert msg["parts"] == [{"type": "text", "content": "the cat sat"}]


def test_a_hub_id_is_the_model_name(instrumented, telemetry: TestContext, tiny_llama: Tiny) -> None:
    saved = tiny_llama.model.config.name_or_path
    tiny_llama.model.config.name_or_path = "my-org/llama-tiny"
    try:
        tiny_llama.model.generate(torch.tensor([[4, 5]]), max_new_tokens=2)
    finally:
        tiny_llama.model.config.name_or_path = saved
    span = telemetry.span("text_completion my-org/llama-tiny")
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == "my-org/llama-tiny"
