"""Text generation: prefill + cached decode, sampling, stop conditions, streaming, telemetry."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

from hyperion_otel import semconv
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.memory.spans import start_span_memory
from hyperion_otel.profiler.context import profile_span
from hyperion_otel.runtime import _instrument as ins
from hyperion_otel.runtime import _keep
from hyperion_otel.runtime.gen_types import (
    CacheStats,
    Generation,
    GenerationConfig,
    StreamToken,
    Timings,
    Usage,
)
from hyperion_otel.runtime.sampling import SamplingParams, sample

if TYPE_CHECKING:
    from hyperion_otel.runtime.model import Model

__all__ = [
    "CacheStats",
    "Generation",
    "GenerationConfig",
    "GenerationStream",
    "Prompt",
    "StreamToken",
    "Timings",
    "Usage",
    "enable_generation_debug",
]

Prompt = Union[str, Sequence[int], npt.NDArray[np.integer]]  # noqa: UP007 - runtime alias, py3.10
DEBUG_CANDIDATES = 5
MAX_CAPTURED_CHARS = 16384  # bound on prompt/output text put into telemetry when opted in

_log = logging.getLogger("hyperion.model")
_debug = False


def enable_generation_debug(on: bool = True) -> None:
    """Log the top candidates of every step (after temperature/top-k/top-p) and the pick.

    Records go to the stdlib logger ``hyperion.model`` at DEBUG; each decode step also
    gets its own span while this is on.
    """
    global _debug
    _debug = bool(on)


def generation_debug_enabled() -> bool:
    return _debug


def _encode(model: Model, prompt: Prompt) -> npt.NDArray[np.int64]:
    if isinstance(prompt, str):
        tok = model.tokenizer
        if tok is None:
            raise InvalidInputError(
                f"model {model.name!r} has no tokenizer (no tokenizer.json); pass the prompt as token ids",
                field="prompt",
                value=prompt[:80],
            )
        with ins.mark(semconv.OP_TOKENIZE, chars=len(prompt)):
            ids = tok.encode(prompt)
        if tok.add_bos and tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
            ids = [tok.bos_token_id, *ids]
        if not ids:
            raise InvalidInputError(
                "prompt is empty and the model has no BOS token to start from",
                field="prompt",
                value="",
            )
        return model.check_ids(ids, "prompt")
    return model.check_ids(prompt, "prompt")


def _holdback(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that could still grow into a stop string."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


def _find_stop(text: str, n_new: int, stops: tuple[str, ...]) -> int:
    """Start of the earliest stop string that ends within the last ``n_new`` chars, or -1."""
    hits = [text.find(s, max(0, len(text) - n_new - len(s) + 1)) for s in stops] if n_new else []
    return min((h for h in hits if h >= 0), default=-1)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CAPTURED_CHARS else text[:MAX_CAPTURED_CHARS]


class _Run:
    """One generate call; ``events()`` yields tokens, then ``result`` holds the Generation."""

    def __init__(self, model: Model, prompt: Prompt, config: GenerationConfig | None) -> None:
        if config is None:
            config = GenerationConfig()
        elif not isinstance(config, GenerationConfig):
            raise InvalidInputError(
                f"config must be a GenerationConfig, got {type(config).__name__}",
                field="config",
                value=repr(config)[:80],
            )
        self.model, self.prompt, self.cfg = model, prompt, config
        self.result: Generation | None = None

    def _request_attrs(self) -> dict[str, Any]:
        c = self.cfg
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_TEXT_COMPLETION,
            semconv.GEN_AI_PROVIDER_NAME: semconv.GEN_AI_PROVIDER_HYPERION,
            semconv.GEN_AI_REQUEST_MODEL: self.model.name,
            semconv.GEN_AI_REQUEST_TEMPERATURE: c.temperature,
            semconv.GEN_AI_REQUEST_TOP_K: float(c.top_k),
            semconv.GEN_AI_REQUEST_TOP_P: c.top_p,
            semconv.GEN_AI_REQUEST_MAX_TOKENS: c.max_new_tokens,
        }
        if c.seed is not None:
            attrs[semconv.GEN_AI_REQUEST_SEED] = c.seed
        if c.stop:
            attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = list(c.stop)
        return attrs

    def events(self) -> Generator[StreamToken, None, None]:  # noqa: PLR0912, PLR0915 - one linear loop reads best
        m, cfg = self.model, self.cfg
        t_start = time.perf_counter()
        capture = ins.capture_content_enabled()
        span = ins.start_span(
            f"{semconv.GEN_AI_OPERATION_TEXT_COMPLETION} {m.name}", self._request_attrs()
        )
        span_mem = start_span_memory()  # pool bytes allocated / peak during each span
        # Profiler samples of this thread carry the request's span until the call ends
        # (entered by hand: the body below is a generator that yields between tokens).
        prof = profile_span(span)
        prof.__enter__()
        decode_mem = None
        metric_attrs = {k: v for k, v in self._request_attrs().items() if k in _METRIC_KEYS}
        debug, n_cand = _debug, DEBUG_CANDIDATES if _debug else 0
        params = SamplingParams(cfg.temperature, cfg.top_k, cfg.top_p)
        rng = np.random.default_rng(cfg.seed)
        stop_ids = set(m.config.eos_token_ids) | set(cfg.stop_token_ids)
        cache = ws = None
        pol = _keep.DEFAULT_POLICY
        decode_span: Span | None = None
        out_ids: list[int] = []
        latencies: list[float] = []
        finish: str | None = None
        text, emitted = "", 0
        decoder = m.tokenizer.decoder() if m.tokenizer is not None else None
        try:
            with (
                trace.use_span(span, record_exception=False, set_status_on_exception=False),
                m.work(),
            ):
                ids = _encode(m, self.prompt)
                if capture and isinstance(self.prompt, str):
                    span.set_attribute(
                        semconv.GEN_AI_INPUT_MESSAGES, _messages("user", self.prompt)
                    )
                pol = _keep.policy()  # memory optimizer: in-place, keep, reserve up front
                cache = _keep.take_cache(
                    m, ins.kv_blocks_callback(m.name), len(ids) + cfg.max_new_tokens, pol
                )
                ws = _keep.take_workspace(m, "prefill", len(ids), pol)
                pre = ins.start_span(
                    semconv.SPAN_PREFILL, {semconv.HYPERION_PREFILL_TOKENS: len(ids)}, parent=span
                )
                pre_mem = start_span_memory()
                try:
                    cache.reserve(len(ids))
                    logits = m.run(ids, 0, cache, ws, last_only=True)
                    with ins.mark(semconv.OP_SAMPLING, vocab=m.config.vocab_size):
                        token, cands = sample(logits[0], params, rng, n_cand)
                except BaseException as exc:
                    ins.record_failure(pre, exc)
                    raise
                finally:
                    pre_mem.end(pre)
                    pre.end()
                _keep.give_workspace(m, "prefill", ws, pol)
                ws = _keep.take_workspace(m, "decode", 1, pol)
                if debug:
                    self._log_step(0, token, cands, capture)
                latencies.append(time.perf_counter() - t_start)
                decode_span = ins.start_span(semconv.SPAN_DECODE, parent=span)
                decode_mem = start_span_memory()
                decode_ctx = trace.set_span_in_context(decode_span)
            step_ids = np.empty(1, dtype=np.int64)
            while True:
                out_ids.append(token)
                new = ""
                if token in stop_ids:
                    finish = "stop"
                elif decoder is not None:
                    new = decoder.add(token)
                # The next token would sit at position cache.length: past the context, stop.
                out_of_room = cache.length >= m.context_length
                if finish is None and (len(out_ids) >= cfg.max_new_tokens or out_of_room):
                    finish = "length"
                if finish is not None and decoder is not None:
                    new += decoder.flush()
                text += new
                hit = _find_stop(text, len(new), cfg.stop)
                if hit >= 0:
                    text, finish = text[:hit], "stop"
                safe = len(text) if finish is not None else len(text) - _holdback(text, cfg.stop)
                delta, emitted = text[emitted:safe], max(emitted, safe)
                yield StreamToken(token, delta, len(out_ids) - 1, finish)
                if finish is not None:
                    break
                t0 = time.perf_counter()
                # Attach/detach directly: ``use_span`` costs several times more per token.
                ctx_token = otel_context.attach(decode_ctx)
                try:
                    with m.work():
                        step_span = (
                            ins.start_span(
                                semconv.SPAN_DECODE_STEP,
                                {semconv.HYPERION_STEP: len(out_ids)},
                                parent=decode_span,
                            )
                            if debug
                            else None
                        )
                        cache.reserve(1)
                        step_ids[0] = token
                        logits = m.run(step_ids, cache.length, cache, ws, last_only=True)
                        with ins.mark(semconv.OP_SAMPLING, vocab=m.config.vocab_size):
                            token, cands = sample(logits[0], params, rng, n_cand)
                        if step_span is not None:
                            step_span.set_attribute(semconv.HYPERION_TOKEN_ID, token)
                            if cands:
                                step_span.set_attribute(
                                    semconv.HYPERION_TOKEN_PROBABILITY,
                                    next(
                                        (c.probability for c in cands if c.token_id == token), 0.0
                                    ),
                                )
                            # The step's record carries this step span's trace/span ids.
                            with trace.use_span(
                                step_span, record_exception=False, set_status_on_exception=False
                            ):
                                self._log_step(len(out_ids), token, cands, capture)
                            step_span.end()
                finally:
                    otel_context.detach(ctx_token)
                latencies.append(time.perf_counter() - t0)
            total = time.perf_counter() - t_start
            timings = Timings(latencies[0], tuple(latencies), total)
            stats = CacheStats(
                cache.peak_blocks, cache.block_size, cache.peak_blocks * cache.block_nbytes
            )
            self.result = Generation(
                text, out_ids, finish, Usage(len(ids), len(out_ids)), timings, ids.tolist(), stats
            )
            span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, m.name)
            span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, [finish])
            span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, len(ids))
            span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, len(out_ids))
            span.set_attribute(semconv.HYPERION_KV_CACHE_BLOCKS, cache.peak_blocks)
            if capture:
                span.set_attribute(
                    semconv.GEN_AI_OUTPUT_MESSAGES, _messages("assistant", text, finish)
                )
            ins.record_request_metrics(
                {**metric_attrs, semconv.GEN_AI_RESPONSE_MODEL: m.name},
                total,
                timings.ttft_s,
                timings.time_per_output_token_s,
                len(ids),
                len(out_ids),
            )
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                ins.record_failure(span, exc)
                ins.record_request_metrics(
                    {**metric_attrs, semconv.ERROR_TYPE: qualified_name(type(exc))},
                    time.perf_counter() - t_start,
                    None,
                    None,
                    None,
                    None,
                )
            raise
        finally:
            if decode_span is not None:
                decode_span.set_attribute(semconv.HYPERION_DECODE_STEPS, max(0, len(out_ids) - 1))
                if decode_mem is not None:
                    decode_mem.end(decode_span)
                decode_span.end()
            if ws is not None:
                _keep.give_workspace(m, "decode", ws, pol)
            if cache is not None:
                _keep.give_cache(m, cache, pol)
            span_mem.end(span)
            prof.__exit__(None, None, None)
            span.end()

    def _log_step(self, step: int, token: int, cands: list[Any], capture: bool) -> None:
        """One DEBUG record per step. Token text is output content: it is logged only with
        the content opt-in (``capture``, read once per generation like the span
        attributes); without it the record carries token ids and probabilities only."""
        if not _log.isEnabledFor(logging.DEBUG):
            return
        tok = self.model.tokenizer if capture else None
        if tok is None:
            top = ", ".join(f"{c.token_id}={c.probability:.3f}" for c in cands)
            _log.debug("generation step %d: sampled token %d; top: %s", step, token, top)
            return

        def piece(i: int) -> str:
            return repr(tok.decode([i]))

        top = ", ".join(f"{piece(c.token_id)}({c.token_id})={c.probability:.3f}" for c in cands)
        _log.debug("generation step %d: sampled %s(%d); top: %s", step, piece(token), token, top)


_METRIC_KEYS = {
    semconv.GEN_AI_OPERATION_NAME,
    semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL,
}


def _messages(role: str, text: str, finish: str | None = None) -> str:
    msg: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": _clip(text)}]}
    if finish is not None:
        msg["finish_reason"] = finish
    return json.dumps([msg], ensure_ascii=False)


def run_to_completion(model: Model, prompt: Prompt, config: GenerationConfig | None) -> Generation:
    run = _Run(model, prompt, config)
    for _ in run.events():
        pass
    assert run.result is not None
    return run.result


class GenerationStream:
    """Iterator of ``StreamToken``; after it is exhausted ``generation`` holds the result.

    ``close()`` (or leaving a ``with`` block) stops early and frees the KV cache.
    """

    def __init__(self, model: Model, prompt: Prompt, config: GenerationConfig | None) -> None:
        self._run = _Run(model, prompt, config)
        self._events = self._run.events()

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> StreamToken:
        return next(self._events)

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._events.close()

    @property
    def generation(self) -> Generation | None:
        return self._run.result
