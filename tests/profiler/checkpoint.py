"""A random GPT-2-layout checkpoint (config.json + model.safetensors) for runtime tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def write_gpt2(
    directory: Path,
    *,
    d: int = 768,
    n_layer: int = 2,
    vocab: int = 4096,
    n_positions: int = 64,
    seed: int = 0,
) -> Path:
    """GPT-2 names and shapes (Conv1D ``[in, out]``); ``d`` 768 gives GPT-2 small's GEMMs."""
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.02) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    w = {
        "wte.weight": r(vocab, d),
        "wpe.weight": r(n_positions, d),
        "ln_f.weight": np.ones(d, np.float32),
        "ln_f.bias": np.zeros(d, np.float32),
    }
    for i in range(n_layer):
        p = f"h.{i}."
        w |= {
            p + "ln_1.weight": np.ones(d, np.float32),
            p + "ln_1.bias": np.zeros(d, np.float32),
            p + "attn.c_attn.weight": r(d, 3 * d),
            p + "attn.c_attn.bias": r(3 * d),
            p + "attn.c_proj.weight": r(d, d),
            p + "attn.c_proj.bias": r(d),
            p + "ln_2.weight": np.ones(d, np.float32),
            p + "ln_2.bias": np.zeros(d, np.float32),
            p + "mlp.c_fc.weight": r(d, 4 * d),
            p + "mlp.c_fc.bias": r(4 * d),
            p + "mlp.c_proj.weight": r(4 * d, d),
            p + "mlp.c_proj.bias": r(d),
        }
    cfg = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_embd": d,
        "n_head": d // 64,
        "n_layer": n_layer,
        "n_positions": n_positions,
        "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
        "bos_token_id": vocab - 1,
        "eos_token_id": vocab - 1,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg))
    save_file(w, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory
