"""Tiny valid checkpoints (safetensors and GGUF) to mutate, and the contract every
mutant must keep.

The contract (``check_contract``): ``load_model`` and ``get_model_info`` either succeed
or raise ``ModelError``/``InvalidInputError``; ``verify_model`` never raises and reports
a problem whenever ``load_model`` failed; none of them runs longer than ``timeout_s`` or
allocates more than ``max_alloc_bytes`` (tracemalloc peak, which sees numpy buffers).
"""

from __future__ import annotations

import json
import signal
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from hyperion_otel.errors import InvalidInputError, ModelError
from hyperion_otel.runtime import get_model_info, load_model, verify_model

ALLOWED = (ModelError, InvalidInputError)
_MiB = 1024 * 1024

# A Llama small enough that a checkpoint is ~3 KB (corpus files stay tiny).
CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 16,
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 32,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def tensors(cfg: dict[str, Any] = CONFIG, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, v, ff = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    h, kvh = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // h

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    out = {"model.embed_tokens.weight": r(v, d), "model.norm.weight": 1 + r(d)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": 1 + r(d),
            p + "post_attention_layernorm.weight": 1 + r(d),
            p + "self_attn.q_proj.weight": r(h * hd, d),
            p + "self_attn.k_proj.weight": r(kvh * hd, d),
            p + "self_attn.v_proj.weight": r(kvh * hd, d),
            p + "self_attn.o_proj.weight": r(d, h * hd),
            p + "mlp.gate_proj.weight": r(ff, d),
            p + "mlp.up_proj.weight": r(ff, d),
            p + "mlp.down_proj.weight": r(d, ff),
        }
    return out


def header_and_data(arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], bytes]:
    header: dict[str, Any] = {}
    blobs, off = [], 0
    for name, arr in arrays.items():
        data = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [off, off + len(data)],
        }
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    return header, b"".join(blobs)


def safetensors_bytes(header: Any, data: bytes, declared_len: int | None = None) -> bytes:
    """A safetensors file from a header (any JSON value) and data; ``declared_len``
    overrides the u64 length prefix."""
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    n = len(raw) if declared_len is None else declared_len
    return struct.pack("<Q", n % (1 << 64)) + raw + data


def valid_safetensors() -> bytes:
    header, data = header_and_data(tensors())
    return safetensors_bytes(header, data)


def write_checkpoint(
    directory: Path, weights: bytes | None = None, config: bytes | None = None
) -> Path:
    """``directory`` with config.json and model.safetensors (valid ones unless given)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_bytes(
        config if config is not None else json.dumps(CONFIG).encode()
    )
    (directory / "model.safetensors").write_bytes(
        weights if weights is not None else valid_safetensors()
    )
    return directory


# GGUF metadata of the tiny Llama: key (after "llama.") -> (value, GGUFValueType name).
GGUF_FIELDS: dict[str, tuple[Any, str]] = {
    "block_count": (CONFIG["num_hidden_layers"], "UINT32"),
    "context_length": (CONFIG["max_position_embeddings"], "UINT32"),
    "embedding_length": (CONFIG["hidden_size"], "UINT32"),
    "feed_forward_length": (CONFIG["intermediate_size"], "UINT32"),
    "attention.head_count": (CONFIG["num_attention_heads"], "UINT32"),
    "attention.head_count_kv": (CONFIG["num_key_value_heads"], "UINT32"),
    "attention.layer_norm_rms_epsilon": (CONFIG["rms_norm_eps"], "FLOAT32"),
    "rope.freq_base": (CONFIG["rope_theta"], "FLOAT32"),
}
_GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
}
_GGUF_BLOCK = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_tensors() -> dict[str, np.ndarray]:
    """The tiny Llama's tensors under GGUF names."""
    out = {}
    for name, arr in tensors().items():
        if name in _GGUF_NAMES:
            out[_GGUF_NAMES[name]] = arr
        else:
            part = name.split(".", 3)[3].removesuffix(".weight")
            out[f"blk.{name.split('.')[2]}.{_GGUF_BLOCK[part]}.weight"] = arr
    return out


def write_gguf(
    path: Path,
    fields: dict[str, tuple[Any, str] | None] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    arch: str = "llama",
) -> bytes:
    """A GGUF file: the tiny Llama's metadata with ``fields`` overriding (None removes a
    key; keys are relative to ``<arch>.``) and ``arrays`` as its tensors."""

    meta: dict[str, tuple[Any, str] | None] = {**GGUF_FIELDS, **(fields or {})}
    wr = gguf.GGUFWriter(str(path), arch)
    for key, spec in meta.items():
        if spec is None:
            continue
        value, vtype = spec
        wtype = gguf.GGUFValueType[vtype]
        sub = None
        if wtype == gguf.GGUFValueType.ARRAY:
            sub = gguf.GGUFValueType.INT32
        wr.add_key_value(f"{arch}.{key}", value, wtype, sub)
    for name, arr in (gguf_tensors() if arrays is None else arrays).items():
        wr.add_tensor(name, arr)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path.read_bytes()


# --- the contract ------------------------------------------------------------------------------
class CaseTimeoutError(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``CaseTimeoutError`` in the main thread after ``seconds`` (a hang detector)."""

    def fire(_signum: int, _frame: Any) -> None:
        raise CaseTimeoutError(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Stats:
    """What a fuzz run did, for the report."""

    cases: int = 0
    loaded: int = 0  # mutants that still loaded
    rejected: int = 0  # mutants rejected with ModelError/InvalidInputError
    max_seconds: float = 0.0
    max_alloc_bytes: int = 0
    messages: set[str] = field(default_factory=set)


def check_contract(
    path: Path,
    stats: Stats | None = None,
    *,
    timeout_s: float = 5.0,
    max_alloc_bytes: int = 64 * _MiB,
) -> None:
    """Assert the contract of the module doc for the checkpoint at ``path``."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.monotonic()
    try:
        with time_limit(timeout_s):
            loaded = _call(load_model, path)
            report = verify_model(path)  # must not raise at all
            _call(get_model_info, path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
    elapsed = time.monotonic() - t0
    assert peak <= max_alloc_bytes, f"{path}: allocated {peak} bytes (bound {max_alloc_bytes})"
    if isinstance(loaded, BaseException):
        assert not report.ok, f"{path}: load_model failed ({loaded}) but verify_model says ok"
        assert report.problems
    if stats is not None:
        stats.cases += 1
        stats.max_seconds = max(stats.max_seconds, elapsed)
        stats.max_alloc_bytes = max(stats.max_alloc_bytes, peak)
        if isinstance(loaded, BaseException):
            stats.rejected += 1
            stats.messages.add(str(loaded).split(": ", 1)[-1][:60])
        else:
            stats.loaded += 1


def _call(fn: Callable[[Path], Any], path: Path) -> Any:
    """``fn(path)``; an allowed error is returned, anything else propagates (a finding)."""
    try:
        return fn(path)
    except ALLOWED as exc:
        assert str(exc), "an error without a message"
        return exc
