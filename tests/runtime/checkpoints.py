"""Writers of tiny HF-layout checkpoints (config.json + safetensors) from known weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

GPT2_CFG: dict[str, Any] = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "vocab_size": 61,
    "n_embd": 16,
    "n_head": 4,
    "n_layer": 2,
    "n_positions": 40,
    "layer_norm_epsilon": 1e-5,
    "activation_function": "gelu_new",
    "bos_token_id": 60,
    "eos_token_id": 60,
}
LLAMA_CFG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 67,
    "hidden_size": 24,
    "intermediate_size": 40,
    "num_hidden_layers": 2,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "max_position_embeddings": 48,
    "rms_norm_eps": 1e-6,
    "rope_theta": 500.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def gpt2_weights(cfg: dict[str, Any], seed: int = 0, prefix: str = "") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, v, p, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    ff = cfg.get("n_inner") or 4 * d

    def r(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "wte.weight": r(v, d),
        "wpe.weight": r(p, d, scale=0.1),
        "ln_f.weight": 1 + r(d, scale=0.1),
        "ln_f.bias": r(d, scale=0.1),
    }
    for i in range(L):
        pre = f"h.{i}."
        w |= {
            pre + "ln_1.weight": 1 + r(d, scale=0.1),
            pre + "ln_1.bias": r(d, scale=0.1),
            pre + "attn.c_attn.weight": r(d, 3 * d),
            pre + "attn.c_attn.bias": r(3 * d, scale=0.1),
            pre + "attn.c_proj.weight": r(d, d),
            pre + "attn.c_proj.bias": r(d, scale=0.1),
            pre + "ln_2.weight": 1 + r(d, scale=0.1),
            pre + "ln_2.bias": r(d, scale=0.1),
            pre + "mlp.c_fc.weight": r(d, ff),
            pre + "mlp.c_fc.bias": r(ff, scale=0.1),
            pre + "mlp.c_proj.weight": r(ff, d),
            pre + "mlp.c_proj.bias": r(d, scale=0.1),
        }
    return {prefix + k: val for k, val in w.items()}


def llama_weights(cfg: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, v, ff = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    h, kvh = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim", d // h)

    def r(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"model.embed_tokens.weight": r(v, d), "model.norm.weight": 1 + r(d, scale=0.1)}
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = r(v, d)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w |= {
            p + "input_layernorm.weight": 1 + r(d, scale=0.1),
            p + "post_attention_layernorm.weight": 1 + r(d, scale=0.1),
            p + "self_attn.q_proj.weight": r(h * hd, d),
            p + "self_attn.k_proj.weight": r(kvh * hd, d),
            p + "self_attn.v_proj.weight": r(kvh * hd, d),
            p + "self_attn.o_proj.weight": r(d, h * hd),
            p + "mlp.gate_proj.weight": r(ff, d),
            p + "mlp.up_proj.weight": r(ff, d),
            p + "mlp.down_proj.weight": r(d, ff),
        }
    return w


def to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16)."""
    bits = a.astype(np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_raw_safetensors(
    path: Path, tensors: dict[str, tuple[str, np.ndarray]], metadata: dict[str, str] | None = None
) -> None:
    """Write a safetensors file by hand (lets tests use BF16 and craft broken headers)."""
    header: dict[str, Any] = {}
    blobs, off = [], 0
    for name, (dtype, arr) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(arr.shape),
            "data_offsets": [off, off + len(data)],
        }
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def write_checkpoint(
    directory: Path,
    cfg: dict[str, Any],
    weights: dict[str, np.ndarray],
    dtype: str = "F32",
    shards: int = 1,
) -> Path:
    """Write config.json + model.safetensors (or ``shards`` files + index) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg))
    names = list(weights)
    if shards == 1:
        _write(directory / "model.safetensors", {n: weights[n] for n in names}, dtype)
        return directory
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        _write(directory / fname, {n: weights[n] for n in part}, dtype)
        weight_map |= {n: fname for n in part}
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    return directory


def _write(path: Path, tensors: dict[str, np.ndarray], dtype: str) -> None:
    if dtype == "F32":
        save_file(
            {k: v.astype(np.float32) for k, v in tensors.items()},
            str(path),
            metadata={"format": "pt"},
        )
    elif dtype == "F16":
        save_file(
            {k: v.astype(np.float16) for k, v in tensors.items()},
            str(path),
            metadata={"format": "pt"},
        )
    elif dtype == "BF16":
        write_raw_safetensors(path, {k: ("BF16", to_bf16_bits(v)) for k, v in tensors.items()})
    else:
        raise ValueError(dtype)


def stored_as(weights: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """The float32 values a loader must see after the checkpoint was stored in ``dtype``."""
    if dtype == "F16":
        return {k: v.astype(np.float16).astype(np.float32) for k, v in weights.items()}
    if dtype == "BF16":
        return {k: bf16_to_f32(to_bf16_bits(v)) for k, v in weights.items()}
    return weights
