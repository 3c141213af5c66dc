"""A tiny random Llama checkpoint (HF layout, byte-level tokenizer) for the CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.checkpoints import llama_weights, write_checkpoint

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
    return write_checkpoint(directory, CONFIG, llama_weights(CONFIG, seed))


def corrupt(directory: Path) -> Path:
    """Overwrite part of the tensor data with NaN bytes (the header stays valid)."""
    f = directory / "model.safetensors"
    raw = bytearray(f.read_bytes())
    nan = np.full(64, np.nan, dtype=np.float32).tobytes()
    raw[-len(nan) :] = nan
    f.write_bytes(bytes(raw))
    return directory
