"""Architecture configuration: parse an HF ``config.json`` into an ``ArchConfig``.

Every size is checked against ``SizeLimits`` before any tensor is read, so an absurd
config (a billion layers, a vocab of 10**12) fails with a ``ModelError`` instead of a
multi-GB allocation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperion_otel.errors import ModelError

__all__ = ["ArchConfig", "SizeLimits", "parse_config", "read_config_file"]

# HF architecture class name -> our architecture family.
ARCHITECTURES: dict[str, str] = {
    "GPT2LMHeadModel": "gpt2",
    "GPT2Model": "gpt2",
    "LlamaForCausalLM": "llama",
}
_MODEL_TYPES = {"gpt2": "gpt2", "llama": "llama"}
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SizeLimits:
    """Upper bounds on config values; anything larger is treated as a corrupt config."""

    max_layers: int = 1024
    max_hidden: int = 65536
    max_heads: int = 1024
    max_vocab: int = 1 << 22
    max_positions: int = 1 << 21
    max_intermediate: int = 1 << 20
    max_parameters: int = 1 << 38


@dataclass(frozen=True)
class ArchConfig:
    """What the runtime needs to know about a checkpoint's architecture."""

    architecture: str  # "gpt2" | "llama"
    hf_architecture: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    max_positions: int
    norm_eps: float
    rope_theta: float = 10000.0
    rope_scaling: tuple[tuple[str, float], ...] = ()
    tie_word_embeddings: bool = True
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    tokenizer: str | None = None  # "byte" for the built-in byte-level tokenizer
    torch_dtype: str | None = None
    name: str | None = None
    # Metadata left out because it is unusable (e.g. a BOS id outside the vocabulary);
    # load_model logs each, verify_model reports each as a warning.
    warnings: tuple[str, ...] = ()

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def parameter_count(self) -> int:
        """Parameters implied by the config (tied head counted once)."""
        d, ff, v = self.d_model, self.d_ff, self.vocab_size
        attn = d * (self.q_dim + 2 * self.kv_dim) + self.q_dim * d
        if self.architecture == "gpt2":
            per_layer = attn + (self.q_dim + 2 * self.kv_dim) + d + 2 * d * ff + ff + d + 4 * d
            total = self.n_layers * per_layer + v * d + self.max_positions * d + 2 * d
        else:
            mlp = 3 * d * ff
            bias = (self.q_dim + 2 * self.kv_dim + d) if self.attention_bias else 0
            bias += (2 * ff + d) if self.mlp_bias else 0
            per_layer = attn + mlp + 2 * d + bias
            total = self.n_layers * per_layer + v * d + d
            if not self.tie_word_embeddings:
                total += v * d
        return total


def read_config_file(path: Path) -> dict[str, Any]:
    """Read and JSON-parse ``config.json``; ModelError for a missing, huge or invalid file."""
    if not path.is_file():
        raise ModelError(
            f"{path.parent}: no config.json in the checkpoint directory", path=str(path)
        )
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ModelError(
            f"{path}: config.json is {size} bytes, more than {MAX_CONFIG_BYTES}", path=str(path)
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: config.json is not valid JSON: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise ModelError(
            f"{path}: config.json must hold a JSON object, got {type(raw).__name__}", path=str(path)
        )
    return raw


class _Reader:
    """Typed field access that names the config file and field in every error."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source

    def fail(self, msg: str) -> ModelError:
        return ModelError(f"{self.source}: {msg}", path=self.source)

    def get_int(
        self, *names: str, default: int | None = None, lo: int = 1, hi: int | None = None
    ) -> int:
        for name in names:
            value = self.raw.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(f"config field {name!r} must be an integer, got {value!r}")
            if value < lo or (hi is not None and value > hi):
                bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
                raise self.fail(
                    f"config field {name!r} = {value} is out of range (expected {bound})"
                )
            return value
        if default is None:
            raise self.fail(f"config field {names[0]!r} is missing")
        return default

    def get_float(self, *names: str, default: float) -> float:
        for name in names:
            value = self.raw.get(name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise self.fail(f"config field {name!r} must be a finite number, got {value!r}")
            if value <= 0:
                raise self.fail(f"config field {name!r} = {value} must be > 0")
            return float(value)
        return default

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"config field {name!r} must be true or false, got {value!r}")
        return value

    def token_ids(self, name: str, vocab: int, notes: list[str]) -> tuple[int, ...]:
        """The field's token ids inside the vocabulary. The forward pass does not need
        them, so an id outside it is left out with a note rather than failing the load
        (transformers keeps GPT-2's 50256 for any ``vocab_size``)."""
        value = self.raw.get(name)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        good = tuple(
            item
            for item in items
            if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < vocab
        )
        if len(good) != len(items):
            notes.append(
                f"{self.source}: config field {name!r} = {value!r}: token ids must be in "
                f"[0, {vocab}); {'kept ' + str(list(good)) if good else 'ignored'}"
            )
        return good


def _family(r: _Reader) -> tuple[str, str]:
    archs = r.raw.get("architectures")
    if archs is not None:
        if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
            raise r.fail(f"config field 'architectures' must be a list of strings, got {archs!r}")
        for arch in archs:
            if arch in ARCHITECTURES:
                return ARCHITECTURES[arch], arch
        raise r.fail(
            f"unknown architecture {archs!r}; supported: {', '.join(sorted(ARCHITECTURES))}"
        )
    model_type = r.raw.get("model_type")
    if isinstance(model_type, str) and model_type in _MODEL_TYPES:
        fam = _MODEL_TYPES[model_type]
        return fam, "GPT2LMHeadModel" if fam == "gpt2" else "LlamaForCausalLM"
    raise r.fail(f"unknown architecture: no 'architectures' list and model_type {model_type!r}")


def _rope(r: _Reader) -> tuple[float, tuple[tuple[str, float], ...]]:
    params = r.raw.get("rope_parameters")
    scaling = r.raw.get("rope_scaling")
    theta = r.get_float("rope_theta", default=10000.0)
    if isinstance(params, dict):
        theta = _Reader(params, r.source + " rope_parameters").get_float(
            "rope_theta", default=theta
        )
        scaling = scaling or params
    if scaling is None:
        return theta, ()
    if not isinstance(scaling, dict):
        raise r.fail(f"config field 'rope_scaling' must be an object, got {scaling!r}")
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return theta, ()
    sr = _Reader(scaling, r.source + " rope_scaling")
    if kind == "linear":
        return theta, (("linear", 1.0), ("factor", sr.get_float("factor", default=1.0)))
    if kind == "llama3":
        return theta, (
            ("llama3", 1.0),
            ("factor", sr.get_float("factor", default=8.0)),
            ("low_freq_factor", sr.get_float("low_freq_factor", default=1.0)),
            ("high_freq_factor", sr.get_float("high_freq_factor", default=4.0)),
            (
                "original_max_position_embeddings",
                float(sr.get_int("original_max_position_embeddings", default=8192)),
            ),
        )
    raise r.fail(
        f"rope scaling type {kind!r} is not supported (supported: default, linear, llama3)"
    )


def parse_config(  # noqa: PLR0915 - one field after another, kept flat on purpose
    raw: Mapping[str, Any], source: str, limits: SizeLimits | None = None
) -> ArchConfig:
    """Turn a config.json mapping into an ``ArchConfig``; ``ModelError`` names the bad field."""
    lim = limits or SizeLimits()
    r = _Reader(raw, source)
    family, hf_arch = _family(r)
    vocab = r.get_int("vocab_size", hi=lim.max_vocab)
    if family == "gpt2":
        d = r.get_int("n_embd", "hidden_size", hi=lim.max_hidden)
        heads = r.get_int("n_head", "num_attention_heads", hi=lim.max_heads)
        kv_heads = heads
        layers = r.get_int("n_layer", "num_hidden_layers", hi=lim.max_layers)
        ff = r.get_int("n_inner", default=4 * d, hi=lim.max_intermediate)
        positions = r.get_int(
            "n_positions", "n_ctx", "max_position_embeddings", hi=lim.max_positions
        )
        eps = r.get_float("layer_norm_epsilon", default=1e-5)
        act = raw.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            raise r.fail(f"activation_function {act!r} is not supported (expected gelu_new)")
        theta, scaling = 10000.0, tuple[tuple[str, float], ...]()
        tie = r.get_bool("tie_word_embeddings", True)
        attn_bias = mlp_bias = True
    else:
        d = r.get_int("hidden_size", hi=lim.max_hidden)
        heads = r.get_int("num_attention_heads", hi=lim.max_heads)
        kv_heads = r.get_int("num_key_value_heads", default=heads, hi=heads)
        layers = r.get_int("num_hidden_layers", hi=lim.max_layers)
        ff = r.get_int("intermediate_size", hi=lim.max_intermediate)
        positions = r.get_int("max_position_embeddings", default=2048, hi=lim.max_positions)
        eps = r.get_float("rms_norm_eps", default=1e-6)
        act = raw.get("hidden_act", "silu")
        if act != "silu":
            raise r.fail(f"hidden_act {act!r} is not supported (expected silu)")
        theta, scaling = _rope(r)
        tie = r.get_bool("tie_word_embeddings", False)
        attn_bias = r.get_bool("attention_bias", False)
        mlp_bias = r.get_bool("mlp_bias", False)
    head_dim = r.get_int("head_dim", default=d // heads if d % heads == 0 else 0, hi=lim.max_hidden)
    if head_dim == 0:
        raise r.fail(f"hidden size {d} is not divisible by the number of heads {heads}")
    if family == "gpt2" and head_dim * heads != d:
        raise r.fail(f"head_dim {head_dim} x heads {heads} != hidden size {d}")
    if heads % kv_heads != 0:
        raise r.fail(
            f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
        )
    if family == "llama" and head_dim % 2:
        raise r.fail(f"head_dim {head_dim} must be even for rotary embeddings")
    tokenizer = raw.get("hyperion_tokenizer")
    if tokenizer not in (None, "byte"):
        raise r.fail(f"hyperion_tokenizer {tokenizer!r} is not supported (expected 'byte')")
    notes: list[str] = []
    bos = r.token_ids("bos_token_id", vocab, notes)
    eos = r.token_ids("eos_token_id", vocab, notes)
    dtype = raw.get("torch_dtype", raw.get("dtype"))
    name = raw.get("_name_or_path")
    cfg = ArchConfig(
        architecture=family,
        hf_architecture=hf_arch,
        n_layers=layers,
        d_model=d,
        n_heads=heads,
        n_kv_heads=kv_heads,
        head_dim=head_dim,
        d_ff=ff,
        vocab_size=vocab,
        max_positions=positions,
        norm_eps=eps,
        rope_theta=theta,
        rope_scaling=scaling,
        tie_word_embeddings=tie,
        attention_bias=attn_bias,
        mlp_bias=mlp_bias,
        bos_token_id=bos[0] if bos else None,
        eos_token_ids=eos,
        tokenizer=tokenizer,
        torch_dtype=dtype if isinstance(dtype, str) else None,
        name=name if isinstance(name, str) and name else None,
        warnings=tuple(notes),
    )
    params = cfg.parameter_count()
    if params > lim.max_parameters:
        raise r.fail(
            f"config implies {params} parameters, more than the limit {lim.max_parameters}"
        )
    return cfg
