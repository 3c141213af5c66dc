"""Native instrumentation: spans, GenAI metrics, content opt-in, ops, generation debug."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from hyperion_otel import semconv
from hyperion_otel._seams import ops as _ops
from hyperion_otel.errors import InvalidInputError, ModelError
from hyperion_otel.runtime import GenerationConfig, enable_generation_debug, load_model

CFG = GenerationConfig(temperature=0.5, top_k=20, top_p=0.95, max_new_tokens=6, seed=11)


def test_generate_span_attributes_children_and_metrics(telemetry, byte_llama, monkeypatch):
    monkeypatch.delenv(semconv.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    model = load_model(byte_llama.path)
    gen = model.generate("secret prompt", CFG)
    span = telemetry.span(f"text_completion {model.name}")
    assert span.kind == SpanKind.INTERNAL
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[semconv.GEN_AI_PROVIDER_NAME] == "hyperion"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == model.name
    assert (
        a[semconv.GEN_AI_REQUEST_TEMPERATURE],
        a[semconv.GEN_AI_REQUEST_TOP_K],
        a[semconv.GEN_AI_REQUEST_TOP_P],
    ) == (0.5, 20.0, 0.95)
    assert (a[semconv.GEN_AI_REQUEST_MAX_TOKENS], a[semconv.GEN_AI_REQUEST_SEED]) == (6, 11)
    assert (
        a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == gen.usage.input_tokens == len("secret prompt") + 1
    )
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == gen.usage.output_tokens
    assert tuple(a[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == (gen.finish_reason,)
    assert span.status.status_code == StatusCode.UNSET
    for value in a.values():  # no content without the opt-in
        assert "secret" not in str(value)
    children = {
        s.name: s
        for s in telemetry.spans()
        if s.parent is not None and s.parent.span_id == span.context.span_id
    }
    assert set(children) == {semconv.SPAN_PREFILL, semconv.SPAN_DECODE}
    assert (
        children[semconv.SPAN_PREFILL].attributes[semconv.HYPERION_PREFILL_TOKENS]
        == gen.usage.input_tokens
    )
    assert not [s for s in telemetry.spans() if s.name == semconv.SPAN_DECODE_STEP]
    load = telemetry.span(semconv.SPAN_MODEL_LOAD)
    assert load.attributes[semconv.HYPERION_MODEL_ARCHITECTURE] == "LlamaForCausalLM"

    m = telemetry.metrics()
    for name in (
        semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION,
        semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
        semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN,
    ):
        (point,) = m[name]
        assert point.count == 1
        assert point.attributes[semconv.GEN_AI_REQUEST_MODEL] == model.name
    (ttft,) = m[semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN]
    assert tuple(ttft.explicit_bounds) == semconv.BUCKETS_TIME_TO_FIRST_TOKEN
    (dur,) = m[semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION]
    assert tuple(dur.explicit_bounds) == pytest.approx(semconv.BUCKETS_REQUEST_DURATION)
    usage = {
        p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p
        for p in m[semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE]
    }
    assert (
        usage["input"].sum == gen.usage.input_tokens
        and usage["output"].sum == gen.usage.output_tokens
    )
    assert tuple(usage["input"].explicit_bounds) == semconv.BUCKETS_TOKEN_USAGE
    (kv,) = m[semconv.METRIC_KV_CACHE_USAGE]
    assert kv.value == 0  # every block given back at the end


def test_content_captured_only_when_opted_in(telemetry, byte_llama, monkeypatch):
    monkeypatch.setenv(semconv.ENV_CAPTURE_MESSAGE_CONTENT, "true")
    model = load_model(byte_llama.path)
    gen = model.generate("secret prompt", CFG)
    a = telemetry.span(f"text_completion {model.name}").attributes
    (inp,) = json.loads(a[semconv.GEN_AI_INPUT_MESSAGES])
    assert inp["role"] == "user" and inp["parts"][0]["content"] == "secret prompt"
    (out,) = json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert out["parts"][0]["content"] == gen.text


def test_failure_sets_error_status_and_type(telemetry, gpt2):
    model = load_model(gpt2.path)
    with pytest.raises(InvalidInputError):
        model.generate(list(range(50)), CFG)
    span = telemetry.span(f"text_completion {model.name}")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.InvalidInputError"
    (dur,) = telemetry.metrics()[semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION]
    assert dur.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.InvalidInputError"
    with pytest.raises(ModelError) as info:
        load_model(gpt2.path / "missing")
    load = [s for s in telemetry.spans() if s.name == semconv.SPAN_MODEL_LOAD][-1]
    assert (
        load.status.status_code == StatusCode.ERROR
        and load.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.ModelError"
    )
    assert info.value.trace_id == format(load.context.trace_id, "032x")


def test_generation_debug_logs_candidates_and_step_spans(telemetry, byte_llama, caplog):
    model = load_model(byte_llama.path)
    enable_generation_debug(True)
    try:
        with caplog.at_level(logging.DEBUG, logger="hyperion.model"):
            gen = model.generate("ab", CFG)
    finally:
        enable_generation_debug(False)
    steps = [r.getMessage() for r in caplog.records if r.name == "hyperion.model"]
    assert len(steps) == gen.usage.output_tokens
    assert steps[0].startswith("generation step 0: sampled") and "top:" in steps[0]
    assert steps[0].count("=") == 5  # five candidates with probabilities
    step_spans = [s for s in telemetry.spans() if s.name == semconv.SPAN_DECODE_STEP]
    assert len(step_spans) == gen.usage.output_tokens - 1
    assert [s.attributes[semconv.HYPERION_TOKEN_ID] for s in step_spans] == gen.token_ids[1:]


class Recorder:
    def __init__(self):
        self.ops = []

    def on_op_start(self, name, attrs):
        self.ops.append((name, dict(attrs)))

    def on_op_end(self, token):
        return None


def test_ops_are_marked_with_layer_shape_flops_bytes(byte_llama):
    model = load_model(byte_llama.path)
    rec = Recorder()
    _ops.add_listener(rec)
    try:
        model.generate("hey", GenerationConfig(temperature=0.0, max_new_tokens=2))
    finally:
        _ops.remove_listener(rec)
    names = {n for n, _ in rec.ops}
    assert names >= {
        semconv.OP_MATMUL,
        semconv.OP_ATTENTION,
        semconv.OP_NORM,
        semconv.OP_MLP,
        semconv.OP_SAMPLING,
        semconv.OP_KV_CACHE,
        semconv.OP_TOKENIZE,
    }
    qkv = [
        a for n, a in rec.ops if n == semconv.OP_MATMUL and a["label"] == "qkv" and a["layer"] == 1
    ]
    assert qkv[0]["shape"] == (4, 24, 24 + 2 * 8)  # prefill: BOS + 3 bytes
    assert qkv[0]["flops"] == 2 * 4 * 24 * 40 and qkv[0]["nbytes"] > 24 * 40 * 4
    attn = [a for n, a in rec.ops if n == semconv.OP_ATTENTION]
    assert attn[-1]["shape"] == (6, 1, 5, 4)  # decode step: 1 query over 5 positions


@pytest.mark.parametrize("streaming", [False, True])
def test_every_generation_step_record_carries_its_spans_ids(telemetry, byte_llama, streaming):
    """Step 0 is sampled in the prefill, step N >= 1 in its decode-step span: each debug
    record, exported as an OTel log record, carries the trace and span ids of that span."""
    import hyperion_otel.logging as hl

    model = load_model(byte_llama.path)
    hl.set_log_level("debug")
    hl.configure_logging(hl.LogOutput.OTLP)
    enable_generation_debug(True)
    try:
        if streaming:
            with model.stream("ab", CFG) as stream:
                n_tokens = len(list(stream))
        else:
            n_tokens = model.generate("ab", CFG).usage.output_tokens
    finally:
        enable_generation_debug(False)
        hl.shutdown_logging()
    steps = {}
    for r in telemetry.ctx.logs:
        body = str(r.log_record.body)
        if body.startswith("generation step "):
            steps[int(body.split()[2].rstrip(":"))] = r.log_record
    assert sorted(steps) == list(range(n_tokens)) and n_tokens > 2
    prefill = telemetry.span(semconv.SPAN_PREFILL)
    by_step = {
        s.attributes[semconv.HYPERION_STEP]: s
        for s in telemetry.spans()
        if s.name == semconv.SPAN_DECODE_STEP
    }
    assert sorted(by_step) == list(range(1, n_tokens))
    for n, record in steps.items():
        span = prefill if n == 0 else by_step[n]
        assert (record.trace_id, record.span_id) == (
            span.context.trace_id,
            span.context.span_id,
        ), f"step {n}"
