"""The GenAI seam: the generate telemetry our runtime and the integrations share.

The runtime (``runtime/generate.py``) and the instrumentors of other runtimes
(``integrations/``) emit their generate spans, GenAI server metrics and captured messages
through these helpers, so that names, units, bucket advice, the bound on captured text, the
content opt-in pinned by ``configure()`` and the generation-debug switch are one thing
whoever generates. Only the OTel API is used (through the telemetry face); with no SDK
configured all of it is a cheap no-op.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry

__all__ = [
    "MAX_CAPTURED_CHARS",
    "METRIC_KEYS",
    "AttrValue",
    "clip",
    "dump_messages",
    "generation_debug_enabled",
    "message",
    "messages",
    "pinned_capture_content",
    "record_request_metrics",
    "set_capture_content",
    "set_generation_debug",
    "start_span",
]

AttrValue = str | bool | int | float | list[str] | list[int] | list[float]

MAX_CAPTURED_CHARS = 16384  # bound on prompt/output text put into telemetry when opted in

# Request attributes that also label the metrics (bounded values only: no parameters).
METRIC_KEYS = frozenset(
    {
        semconv.GEN_AI_OPERATION_NAME,
        semconv.GEN_AI_PROVIDER_NAME,
        semconv.GEN_AI_REQUEST_MODEL,
    }
)


class _Pin:
    capture: bool | None = None  # set by configure() from its settings
    debug = False


def set_capture_content(value: bool | None) -> None:
    """Pin the content opt-in (``configure()`` passes its setting); ``None`` unpins it."""
    _Pin.capture = value


def pinned_capture_content() -> bool | None:
    """The pinned content opt-in, or ``None``: then the caller reads the setting
    (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``) itself, through
    ``hyperion_otel.settings`` (seams do not import the settings)."""
    return _Pin.capture


def set_generation_debug(on: bool) -> None:
    """Per-step spans and candidate logs for every generate path (``enable_generation_debug``)."""
    _Pin.debug = bool(on)


def generation_debug_enabled() -> bool:
    return _Pin.debug


def start_span(
    name: str,
    attributes: Mapping[str, AttrValue] | None = None,
    parent: Span | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: int | None = None,
) -> Span:
    """Start (not activate) a span; ``parent`` makes it that span's child.

    ``start_time`` (epoch ns) backdates it, for phases whose bounds are known only after.
    """
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    return _telemetry.tracer().start_span(
        name, context=ctx, kind=kind, attributes=attributes, start_time=start_time
    )


def record_request_metrics(
    attrs: Mapping[str, AttrValue],
    duration_s: float,
    ttft_s: float | None,
    tpot_s: float | None,
    input_tokens: int | None,
    output_tokens: int | None,
) -> None:
    """Record the GenAI server and client metrics of one generate call; never raises.

    Both sets, on purpose: the model runs in the caller's process, so one generate call is
    at once the model server's request (``gen_ai.server.*``: duration, time to first token,
    time per output token) and the application's client operation. The client pair is what
    GenAI backends chart (token usage), and the conventions make
    ``gen_ai.client.operation.duration`` Required wherever client metrics are emitted. Cost:
    one more histogram record per call, none per token.
    """
    try:
        _telemetry.histogram(
            semconv.METRIC_GEN_AI_SERVER_REQUEST_DURATION,
            "s",
            "Generate call duration",
            semconv.BUCKETS_REQUEST_DURATION,
        ).record(duration_s, attrs)
        _telemetry.histogram(
            semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
            "s",
            "GenAI operation duration",
            semconv.BUCKETS_REQUEST_DURATION,
        ).record(duration_s, attrs)
        if ttft_s is not None:
            _telemetry.histogram(
                semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
                "s",
                "Time to the first output token",
                semconv.BUCKETS_TIME_TO_FIRST_TOKEN,
            ).record(ttft_s, attrs)
        if tpot_s is not None:
            _telemetry.histogram(
                semconv.METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN,
                "s",
                "Time per output token after the first",
                semconv.BUCKETS_TIME_PER_OUTPUT_TOKEN,
            ).record(tpot_s, attrs)
        if input_tokens is None or output_tokens is None:
            return
        usage = _telemetry.histogram(
            semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
            "{token}",
            "Tokens used per call",
            semconv.BUCKETS_TOKEN_USAGE,
        )
        usage.record(
            input_tokens, {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.GEN_AI_TOKEN_TYPE_INPUT}
        )
        usage.record(
            output_tokens, {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.GEN_AI_TOKEN_TYPE_OUTPUT}
        )
    except Exception:  # noqa: BLE001 - telemetry must never break the caller
        return


def clip(text: str) -> str:
    return text if len(text) <= MAX_CAPTURED_CHARS else text[:MAX_CAPTURED_CHARS]


def message(role: str, text: str, finish: str | None = None) -> dict[str, Any]:
    """One GenAI message (``{"role", "parts": [text part], "finish_reason"?}``), text clipped."""
    msg: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": clip(text)}]}
    if finish is not None:
        msg["finish_reason"] = finish
    return msg


def messages(role: str, text: str, finish: str | None = None) -> str:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages`` value holding one message."""
    return json.dumps([message(role, text, finish)], ensure_ascii=False)


def dump_messages(msgs: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(list(msgs), ensure_ascii=False)
