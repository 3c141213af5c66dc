"""One instrumented ``generate`` call: span, phases, usage, metrics, content, errors, limits.

The call runs unchanged inside its span, with one stopping criterion added (the step
clock). Everything else is read before or after: request parameters from the effective
GenerationConfig, usage and finish reasons from the ids, and the prefill/decode child
spans (and, with generation debug, one span per decode step) built afterwards from the
clock's timestamps, so the generation loop pays one clock read per step.

Span tree (names shared with our runtime)::

    text_completion {model}            the whole call
      hyperion.prefill                 call start .. first token      (= TTFT)
      hyperion.decode                  first token .. last token
        hyperion.decode.step           one per step, generation debug only
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from hyperion_otel import semconv
from hyperion_otel._seams import genai as _genai
from hyperion_otel.errors import record_error
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.integrations.transformers import _content
from hyperion_otel.integrations.transformers._clock import new_clock
from hyperion_otel.integrations.transformers._limits import limits_for
from hyperion_otel.integrations.transformers._request import Request, read_request
from hyperion_otel.integrations.transformers._usage import (
    Usage,
    count_input,
    count_output,
    sequences_of,
)
from hyperion_otel.profiler.context import profile_span

__all__ = ["instrumented_generate"]

# Bound on the per-step spans and log records of one call with generation debug on.
MAX_DEBUG_STEPS = 4096

_log = logging.getLogger("hyperion.model")


def _with_clock(
    args: tuple[Any, ...], kwargs: dict[str, Any], clock: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with ``clock`` appended to its stopping criteria (a new list:
    the caller's is not modified)."""
    from transformers.generation.stopping_criteria import StoppingCriteriaList

    if len(args) > 3:
        user = args[3]
        merged = StoppingCriteriaList([*(user or ()), clock])
        return (*args[:3], merged, *args[4:]), kwargs
    user = kwargs.get("stopping_criteria")
    return args, {**kwargs, "stopping_criteria": StoppingCriteriaList([*(user or ()), clock])}


class _Times:
    """Epoch-ns conversion of perf_counter_ns readings taken during the call."""

    __slots__ = ("epoch0", "perf0")

    def __init__(self) -> None:
        self.epoch0 = time.time_ns()
        self.perf0 = time.perf_counter_ns()

    def epoch(self, perf_ns: int) -> int:
        return self.epoch0 + (perf_ns - self.perf0)

    def seconds(self, perf_ns: int) -> float:
        return (perf_ns - self.perf0) / 1e9


def instrumented_generate(
    original: Callable[..., Any], model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    t = _Times()
    try:
        req = read_request(model, args, kwargs)
    except Exception:  # noqa: BLE001 - telemetry must never break the call: run it plain
        return original(model, *args, **kwargs)
    debug = _genai.generation_debug_enabled()
    span = _genai.start_span(
        f"{semconv.GEN_AI_OPERATION_TEXT_COMPLETION} {req.model}", req.attrs, start_time=t.epoch0
    )
    clock = None
    # Continuous batching ("paged") refuses stopping criteria: no clock, so no TTFT.
    if kwargs.get("cache_implementation") != "paged":
        try:
            clock = new_clock(debug, MAX_DEBUG_STEPS)
            args, kwargs = _with_clock(args, kwargs, clock)
        except Exception:  # noqa: BLE001 - without the clock the call still gets its span
            clock = None
    end_ns = 0
    try:
        with (
            trace.use_span(span, record_exception=False, set_status_on_exception=False),
            profile_span(span),
            limits_for(model),
        ):
            output = original(model, *args, **kwargs)
        end_ns = time.perf_counter_ns()
        _finish(span, req, clock, t, end_ns, output, kwargs, debug, model)
        return output
    except BaseException as exc:
        end_ns = end_ns or time.perf_counter_ns()
        _fail(span, req, clock, t, end_ns, exc)
        raise
    finally:
        span.end(end_time=t.epoch(end_ns or time.perf_counter_ns()))


def _fail(span: Span, req: Request, clock: Any, t: _Times, end_ns: int, exc: BaseException) -> None:
    with suppress(Exception):  # the failure below is what matters
        _phases(span, clock, t, end_ns, None, count_input(req), False)
    _record_failure(span, exc)
    _genai.record_request_metrics(
        {**req.metric_attrs, semconv.ERROR_TYPE: qualified_name(type(exc))},
        t.seconds(end_ns),
        None,
        None,
        None,
        None,
    )


def _record_failure(span: Span, exc: BaseException) -> None:
    """As the runtime does: an Exception goes through error tracking (span status ERROR and
    ``error.type``, exception record, ``hyperion.errors``, last error, callbacks); a
    KeyboardInterrupt or SystemExit only marks the span."""
    if isinstance(exc, Exception):
        record_error(exc, span=span)
        return
    with suppress(Exception):
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def _finish(
    span: Span,
    req: Request,
    clock: Any,
    t: _Times,
    end_ns: int,
    output: Any,
    kwargs: dict[str, Any],
    debug: bool,
    model: Any,
) -> None:
    """Attributes, child spans, metrics and content of a call that returned; never raises."""
    try:
        seqs = sequences_of(output)
        usage = count_output(req, seqs) if seqs is not None else None
        n_in = count_input(req)
        ttft, tpot = _phases(span, clock, t, end_ns, usage, n_in, debug)
        span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, req.model)
        if n_in is not None:
            span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, n_in)
        if usage is not None:
            span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, list(usage.finish_reasons))
            span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens)
        _genai.record_request_metrics(
            {**req.metric_attrs, semconv.GEN_AI_RESPONSE_MODEL: req.model},
            t.seconds(end_ns),
            ttft,
            tpot,
            n_in,
            usage.output_tokens if usage is not None else None,
        )
        if usage is not None and _content.capture_enabled():
            tok = _content.find_tokenizer(model, kwargs)
            if req.input_ids is not None:
                span.set_attribute(
                    semconv.GEN_AI_INPUT_MESSAGES,
                    _content.input_messages(tok, req.input_ids, req.attention_mask),
                )
            span.set_attribute(
                semconv.GEN_AI_OUTPUT_MESSAGES,
                _content.output_messages(tok, usage.new_ids, usage.finish_reasons),
            )
    except Exception:  # noqa: BLE001 - telemetry must never break the caller
        return


def _phases(
    span: Span,
    clock: Any,
    t: _Times,
    end_ns: int,
    usage: Usage | None,
    n_in: int | None,
    debug: bool,
) -> tuple[float | None, float | None]:
    """Prefill and decode child spans from the clock; returns (TTFT, time per output token)
    in seconds, each None when unknown."""
    times: list[int] = clock.times if clock is not None else []
    if not times:
        return None, None
    first, last = times[0], times[-1]
    pre = _genai.start_span(
        semconv.SPAN_PREFILL,
        {semconv.HYPERION_PREFILL_TOKENS: n_in} if n_in is not None else None,
        parent=span,
        start_time=t.epoch0,
    )
    pre.end(end_time=t.epoch(first))
    # Positions decoded after the first token (assisted decoding may take several per step).
    steps = (usage.new_positions if usage is not None else len(times)) - 1
    dec = _genai.start_span(semconv.SPAN_DECODE, parent=span, start_time=t.epoch(first))
    dec.set_attribute(semconv.HYPERION_DECODE_STEPS, max(0, steps))
    if debug:
        _debug_steps(dec, clock, t)
    dec.end(end_time=t.epoch(last if usage is not None else end_ns))
    ttft = t.seconds(first)
    tpot = (last - first) / 1e9 / steps if steps > 0 and usage is not None else None
    return ttft, tpot


def _debug_steps(dec: Span, clock: Any, t: _Times) -> None:
    """One span per decode step (step i: from token i-1 to token i) and one DEBUG record
    per step with the ids it appended (one per sequence; logits are not kept)."""
    times, picks = clock.times, clock.picks
    for i, ids in enumerate(picks):
        if i > 0 and i < len(times):
            attrs: dict[str, _genai.AttrValue] = {semconv.HYPERION_STEP: i}
            if len(ids) == 1:
                attrs[semconv.HYPERION_TOKEN_ID] = ids[0]
            step = _genai.start_span(
                semconv.SPAN_DECODE_STEP, attrs, parent=dec, start_time=t.epoch(times[i - 1])
            )
            step.end(end_time=t.epoch(times[i]))
        _log.debug("generation step %d: appended token ids %s", i, ids)
