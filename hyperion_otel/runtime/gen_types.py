"""Generation parameters and results: ``GenerationConfig`` (validated) and ``Generation``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hyperion_otel.errors import public
from hyperion_otel.validation import MAX_NEW_TOKENS, validate_generation_config

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

MAX_NEW_TOKENS_LIMIT = MAX_NEW_TOKENS


@public
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
        # The one rule per field (``hyperion_otel.validation``); stacklevel 3 names the
        # line that built the config (past this method and the dataclass ``__init__``).
        validate_generation_config(self, field="GenerationConfig", stacklevel=3)
        stop: Any = self.stop  # a lone string (or None) is accepted too
        object.__setattr__(self, "stop", (stop,) if isinstance(stop, str) else tuple(stop or ()))
        object.__setattr__(self, "stop_token_ids", tuple(int(i) for i in self.stop_token_ids))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_k", int(self.top_k))
        object.__setattr__(self, "top_p", float(self.top_p))
        object.__setattr__(self, "max_new_tokens", int(self.max_new_tokens))
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))


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


@public
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
