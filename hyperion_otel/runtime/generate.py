"""Text generation: prefill + cached decode, sampling, stop conditions, streaming, telemetry."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt
from opentelemetry import context as otel_context, trace
from opentelemetry.trace import Span

from hyperion_otel import semconv
from hyperion_otel._seams import genai, span_hooks
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.errors._boundary import note_error
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.runtime import _instrument as ins, _keep
from hyperion_otel.runtime.gen_types import (
    CacheStats,
    FinishReason,
    Generation,
    GenerationConfig,
    StreamToken,
    Timings,
    Usage,
)
from hyperion_otel.runtime.sampling import SamplingParams, sample
from hyperion_otel.validation import validate_prompt

if TYPE_CHECKING:
    from hyperion_otel.runtime.kv_cache import PagedKVCache
    from hyperion_otel.runtime.model import Model, Workspace

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

_log = logging.getLogger("hyperion.model")


@public
def enable_generation_debug(on: bool = True) -> None:
    """Log the top candidates of every step (after temperature/top-k/top-p) and the pick.

    Records go to the stdlib logger ``hyperion.model`` at DEBUG; each decode step also
    gets its own span while this is on. The switch is shared with the instrumented
    transformers ``generate`` (``hyperion_otel.integrations.transformers``), which then adds
    a span and a record (the ids appended) per step too.
    """
    if not isinstance(on, bool):
        raise InvalidInputError(f"enable_generation_debug expects a bool, got {on!r}", field="on")
    genai.set_generation_debug(on)


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


def _current(span: Span) -> AbstractContextManager[Span]:
    """Make ``span`` current for the block; ending it and recording errors stay with the caller."""
    return trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    )


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
        validate_prompt(prompt)  # an empty prompt is refused here, before any work
        self.model, self.prompt, self.cfg = model, prompt, config
        self.result: Generation | None = None
        # Set when events() starts; the decode state lives here between yields.
        self.t_start = 0.0
        self.capture = self.debug = False
        self.params = SamplingParams(config.temperature, config.top_k, config.top_p)
        self.rng = np.random.default_rng(config.seed)
        self.ids: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.cache: PagedKVCache | None = None
        self.ws: Workspace | None = None
        self.policy = _keep.DEFAULT_POLICY  # the memory optimizer's, read when events() starts
        self.out_ids: list[int] = []
        self.latencies: list[float] = []
        self.finish: FinishReason | None = None
        self.text, self.emitted = "", 0

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

    def events(self) -> Generator[StreamToken, None, None]:
        m = self.model
        self.t_start = time.perf_counter()
        self.capture = ins.capture_content_enabled()
        self.debug = genai.generation_debug_enabled()
        span = ins.start_span(
            f"{semconv.GEN_AI_OPERATION_TEXT_COMPLETION} {m.name}", self._request_attrs()
        )
        # Unwound in reverse when the call ends, fails or is closed between tokens: the
        # decode span, the KV cache and workspace, what facilities added to the request
        # span (profiler tag, memory figures; they stay entered across yields), the span.
        with ExitStack() as stack:
            stack.callback(span.end)
            span_hooks.enter(stack, span, span_hooks.REQUEST)
            stack.callback(self._free)
            try:
                with _current(span), m.work():
                    self.ids = _encode(m, self.prompt)
                    self.policy = _keep.policy()  # memory optimizer: in-place, keep, reserve
                    if self.capture and isinstance(self.prompt, str):
                        span.set_attribute(
                            semconv.GEN_AI_INPUT_MESSAGES, genai.messages("user", self.prompt)
                        )
                    token = self._prefill(span)
                    decode_span = self._open_decode(stack, span)
                yield from self._decode(decode_span, token)
                self._finish(span)
            except BaseException as exc:
                if not isinstance(exc, GeneratorExit):
                    self._fail(span, exc)
                raise

    def _sample(self, logits: npt.NDArray[np.float32]) -> tuple[int, list[Any]]:
        n_cand = DEBUG_CANDIDATES if self.debug else 0
        with ins.mark(semconv.OP_SAMPLING, vocab=self.model.config.vocab_size):
            return sample(logits[0], self.params, self.rng, n_cand)

    def _prefill(self, parent: Span) -> int:
        """Run the prompt through the model into a new cache; returns the first token."""
        m, ids, pol = self.model, self.ids, self.policy
        self.cache = cache = _keep.take_cache(
            m, ins.kv_blocks_callback(m.name), len(ids) + self.cfg.max_new_tokens, pol
        )
        self.ws = _keep.take_workspace(m, "prefill", len(ids), pol)
        pre = ins.start_span(
            semconv.SPAN_PREFILL, {semconv.HYPERION_PREFILL_TOKENS: len(ids)}, parent=parent
        )
        with ExitStack() as stack:
            stack.callback(pre.end)
            span_hooks.enter(stack, pre, span_hooks.PHASE)
            try:
                cache.reserve(len(ids))
                logits = m.run(ids, 0, cache, self.ws, last_only=True)
                token, cands = self._sample(logits)
            except BaseException as exc:
                note_error(exc, pre)  # recorded where it leaves the request (see _fail)
                raise
            if self.debug:
                with _current(pre):
                    self._log_step(0, token, cands)
        ws, self.ws = self.ws, None
        _keep.give_workspace(m, "prefill", ws, pol)
        self.ws = _keep.take_workspace(m, "decode", 1, pol)
        self.latencies.append(time.perf_counter() - self.t_start)
        return token

    def _open_decode(self, stack: ExitStack, parent: Span) -> Span:
        """Start the decode span; ``stack`` ends it (after the facilities' hooks)."""
        decode = ins.start_span(semconv.SPAN_DECODE, parent=parent)
        stack.callback(decode.end)
        stack.callback(self._set_decode_steps, decode)
        span_hooks.enter(stack, decode, span_hooks.PHASE)
        return decode

    def _set_decode_steps(self, decode: Span) -> None:
        decode.set_attribute(semconv.HYPERION_DECODE_STEPS, max(0, len(self.out_ids) - 1))

    def _decode(self, decode: Span, token: int) -> Generator[StreamToken, None, None]:
        """Emit ``token``, then decode one token per step until a stop condition."""
        m = self.model
        stop_ids = set(m.config.eos_token_ids) | set(self.cfg.stop_token_ids)
        decoder = m.tokenizer.decoder() if m.tokenizer is not None else None
        ctx = trace.set_span_in_context(decode)
        step_ids = np.empty(1, dtype=np.int64)
        while True:
            self.out_ids.append(token)
            out = self._emit(token, stop_ids, decoder)
            yield out
            if out.finish_reason is not None:
                return
            t0 = time.perf_counter()
            # Attach/detach directly: ``use_span`` costs several times more per token.
            ctx_token = otel_context.attach(ctx)
            try:
                step_ids[0] = token
                token = self._step(decode, step_ids) if self.debug else self._run_step(step_ids)[0]
            finally:
                otel_context.detach(ctx_token)
            self.latencies.append(time.perf_counter() - t0)

    def _run_step(self, step_ids: npt.NDArray[np.int64]) -> tuple[int, list[Any]]:
        """One decode step of the model (a unit of work); returns the sampled token."""
        m, cache = self.model, self.cache
        assert cache is not None and self.ws is not None
        with m.work():
            cache.reserve(1)
            logits = m.run(step_ids, cache.length, cache, self.ws, last_only=True)
            return self._sample(logits)

    def _step(self, decode: Span, step_ids: npt.NDArray[np.int64]) -> int:
        """A decode step under its own span, with its debug record logged inside that span."""
        n = len(self.out_ids)
        step = ins.start_span(semconv.SPAN_DECODE_STEP, {semconv.HYPERION_STEP: n}, parent=decode)
        with _current(step):
            try:
                token, cands = self._run_step(step_ids)
            except BaseException as exc:
                note_error(exc, step)  # recorded where it leaves the request (see _fail)
                step.end()
                raise
            step.set_attribute(semconv.HYPERION_TOKEN_ID, token)
            if cands:
                p = next((c.probability for c in cands if c.token_id == token), 0.0)
                step.set_attribute(semconv.HYPERION_TOKEN_PROBABILITY, p)
            self._log_step(n, token, cands)
        step.end()
        return token

    def _emit(self, token: int, stop_ids: set[int], decoder: Any) -> StreamToken:
        """Append ``token``'s text and decide whether generation ends here."""
        m, cfg, cache = self.model, self.cfg, self.cache
        assert cache is not None
        finish: FinishReason | None = None
        new = ""
        if token in stop_ids:
            finish = "stop"
        elif decoder is not None:
            new = decoder.add(token)
        # The next token would sit at position cache.length: past the context, stop.
        out_of_room = cache.length >= m.context_length
        if finish is None and (len(self.out_ids) >= cfg.max_new_tokens or out_of_room):
            finish = "length"
        if finish is not None and decoder is not None:
            new += decoder.flush()
        text = self.text + new
        hit = _find_stop(text, len(new), cfg.stop)
        if hit >= 0:
            text, finish = text[:hit], "stop"
        safe = len(text) if finish is not None else len(text) - _holdback(text, cfg.stop)
        delta, self.emitted = text[self.emitted : safe], max(self.emitted, safe)
        self.text, self.finish = text, finish
        return StreamToken(token, delta, len(self.out_ids) - 1, finish)

    def _finish(self, span: Span) -> None:
        m, cache, ids, out = self.model, self.cache, self.ids, self.out_ids
        assert cache is not None and self.finish is not None
        total = time.perf_counter() - self.t_start
        timings = Timings(self.latencies[0], tuple(self.latencies), total)
        stats = CacheStats(
            cache.peak_blocks, cache.block_size, cache.peak_blocks * cache.block_nbytes
        )
        self.result = Generation(
            self.text, out, self.finish, Usage(len(ids), len(out)), timings, ids.tolist(), stats
        )
        span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, m.name)
        span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, [self.finish])
        span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, len(ids))
        span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, len(out))
        span.set_attribute(semconv.HYPERION_KV_CACHE_BLOCKS, cache.peak_blocks)
        if self.capture:
            span.set_attribute(
                semconv.GEN_AI_OUTPUT_MESSAGES, genai.messages("assistant", self.text, self.finish)
            )
        ins.record_request_metrics(
            {**self._metric_attrs(), semconv.GEN_AI_RESPONSE_MODEL: m.name},
            total,
            timings.ttft_s,
            timings.time_per_output_token_s,
            len(ids),
            len(out),
        )

    def _fail(self, span: Span, exc: BaseException) -> None:
        ins.record_failure(span, exc)
        ins.record_request_metrics(
            {**self._metric_attrs(), semconv.ERROR_TYPE: qualified_name(type(exc))},
            time.perf_counter() - self.t_start,
            None,
            None,
            None,
            None,
        )

    def _metric_attrs(self) -> dict[str, Any]:
        return {k: v for k, v in self._request_attrs().items() if k in genai.METRIC_KEYS}

    def _free(self) -> None:
        """Workspace and KV cache go back to the allocator, or are kept (memory policy)."""
        if self.ws is not None:
            _keep.give_workspace(self.model, "decode", self.ws, self.policy)
        if self.cache is not None:
            _keep.give_cache(self.model, self.cache, self.policy)

    def _log_step(self, step: int, token: int, cands: list[Any]) -> None:
        """One DEBUG record per step. Token text is output content: it is logged only with
        the content opt-in (``capture``, read once per generation like the span
        attributes); without it the record carries token ids and probabilities only."""
        if not _log.isEnabledFor(logging.DEBUG):
            return
        tok = self.model.tokenizer if self.capture else None
        if tok is None:
            top = ", ".join(f"{c.token_id}={c.probability:.3f}" for c in cands)
            _log.debug("generation step %d: sampled token %d; top: %s", step, token, top)
            return

        def piece(i: int) -> str:
            return repr(tok.decode([i]))

        top = ", ".join(f"{piece(c.token_id)}({c.token_id})={c.probability:.3f}" for c in cands)
        _log.debug("generation step %d: sampled %s(%d); top: %s", step, piece(token), token, top)


def run_to_completion(model: Model, prompt: Prompt, config: GenerationConfig | None) -> Generation:
    run = _Run(model, prompt, config)
    for _ in run.events():
        pass
    assert run.result is not None
    return run.result


@public
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
