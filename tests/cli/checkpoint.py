"""A tiny random Llama checkpoint (HF layout, byte-level tokenizer) for the CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 257,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 256,
    "eos_token_id": 256,
    "hyperion_tokenizer": "byte",
}


def write_tiny_llama(directory: Path, seed: int = 0) -> Path:
    """Write config.json + model.safetensors into ``directory``; returns it."""
    rng = np.random.default_rng(seed)
    c = CONFIG
    d, v, ff = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    h, kvh = c["num_attention_heads"], c["num_key_value_heads"]
    hd = d // h

    def r(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"model.embed_tokens.weight": r(v, d), "model.norm.weight": 1 + r(d, scale=0.1),
         "lm_head.weight": r(v, d)}
    for i in range(c["num_hidden_layers"]):
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
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(c))
    save_file(w, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def corrupt(directory: Path) -> Path:
    """Overwrite part of the tensor data with NaN bytes (the header stays valid)."""
    f = directory / "model.safetensors"
    raw = bytearray(f.read_bytes())
    nan = np.full(64, np.nan, dtype=np.float32).tobytes()
    raw[-len(nan):] = nan
    f.write_bytes(bytes(raw))
    return directory
