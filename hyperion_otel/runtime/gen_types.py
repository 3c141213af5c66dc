"""Generation parameters and results: ``GenerationConfig`` (validated) and ``Generation``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hyperion_otel.errors import InvalidInputError

__all__ = [
    "CacheStats",
    "FinishReason",
    "Generation",
    "GenerationConfig",
    "StreamToken",
    "Timings",
    "Usage",
]

# "stop": an EOS token or a stop string ended it; "length": max_new_tokens or the context did.
FinishReason = Literal["stop", "length"]

MAX_NEW_TOKENS_LIMIT = 1 << 20


def _bad(field_name: str, value: object, expected: str) -> InvalidInputError:
    return InvalidInputError(
        f"GenerationConfig.{field_name} = {value!r} is invalid: expected {expected}",
        field=field_name,
        value=repr(value),
    )


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling and stopping (guide: ``HyperionGenerationConfig``).

    ``temperature`` 0 is greedy; ``top_k`` 0 keeps every token; ``top_p`` 1.0 disables the
    nucleus cut; ``seed`` makes sampling reproducible; ``stop`` strings end the text (the
    stop string itself is not returned); ``stop_token_ids`` add to the model's EOS ids.
    """

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.9
    max_new_tokens: int = 64
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise _bad("temperature", t, "a finite number >= 0 (0 = greedy)")
        if not _is_int(self.top_k) or self.top_k < 0:
            raise _bad("top_k", self.top_k, "an integer >= 0 (0 = no top-k cut)")
        p = self.top_p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise _bad("top_p", p, "a number in (0, 1]")
        n = self.max_new_tokens
        if not _is_int(n) or not 1 <= n <= MAX_NEW_TOKENS_LIMIT:
            raise _bad("max_new_tokens", n, f"an integer in [1, {MAX_NEW_TOKENS_LIMIT}]")
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise _bad("seed", self.seed, "None or an integer >= 0")
        given: object = self.stop  # a lone string is accepted as one stop string
        stop = (given,) if isinstance(given, str) else given
        if not isinstance(stop, (tuple, list)) or not all(isinstance(s, str) and s for s in stop):
            raise _bad("stop", self.stop, "a sequence of non-empty strings")
        object.__setattr__(self, "stop", tuple(stop))
        if not isinstance(self.stop_token_ids, (tuple, list)) or not all(
            _is_int(i) and i >= 0 for i in self.stop_token_ids
        ):
            raise _bad("stop_token_ids", self.stop_token_ids, "a sequence of token ids >= 0")
        object.__setattr__(self, "stop_token_ids", tuple(int(i) for i in self.stop_token_ids))
        object.__setattr__(self, "temperature", float(t))
        object.__setattr__(self, "top_p", float(p))


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Timings:
    """Seconds: time to first token, latency of each output token (the first is the TTFT), total."""

    ttft_s: float
    token_latencies_s: tuple[float, ...]
    total_s: float

    @property
    def time_per_output_token_s(self) -> float | None:
        lat = self.token_latencies_s
        return sum(lat[1:]) / (len(lat) - 1) if len(lat) > 1 else None

    @property
    def tokens_per_s(self) -> float:
        return len(self.token_latencies_s) / self.total_s if self.total_s > 0 else 0.0


@dataclass(frozen=True)
class CacheStats:
    blocks_used: int
    block_size: int
    bytes: int


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: list[int]  # new tokens only (a final EOS included)
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    prompt_token_ids: list[int] = field(default_factory=list)
    cache: CacheStats | None = None


@dataclass(frozen=True)
class StreamToken:
    """One generated token; ``text`` is the new text it completes (may be '')."""

    token_id: int
    text: str
    index: int
    finish_reason: FinishReason | None = None
