"""Independent, straightforward float64 implementations of GPT-2 and Llama (test oracle).

Written from the HF model definitions, sharing no code with the runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    # q, k, v [T, hd] -> [T, hd]
    t = q.shape[0]
    scores = q @ k.T / np.sqrt(q.shape[-1])
    scores = scores + np.triu(np.full((t, t), -1e30), 1)
    return _softmax(scores) @ v


def gpt2_logits(w: dict[str, np.ndarray], cfg: dict[str, Any], ids: list[int]) -> np.ndarray:
    w = {k: v.astype(np.float64) for k, v in w.items()}
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // nh

    def ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g + b

    def gelu(x: np.ndarray) -> np.ndarray:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

    x = w["wte.weight"][ids] + w["wpe.weight"][: len(ids)]
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        h = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        heads = [
            _causal_attention(
                q[:, j * hd : (j + 1) * hd],
                k[:, j * hd : (j + 1) * hd],
                v[:, j * hd : (j + 1) * hd],
            )
            for j in range(nh)
        ]
        x = (
            x
            + np.concatenate(heads, axis=-1) @ w[p + "attn.c_proj.weight"]
            + w[p + "attn.c_proj.bias"]
        )
        h = ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        x = (
            x
            + gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            @ w[p + "mlp.c_proj.weight"]
            + w[p + "mlp.c_proj.bias"]
        )
    x = ln(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


def llama_logits(w: dict[str, np.ndarray], cfg: dict[str, Any], ids: list[int]) -> np.ndarray:
    w = {k: v.astype(np.float64) for k, v in w.items()}
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim", d // nh)
    eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    t = len(ids)

    def rms(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * g

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    freqs = np.outer(np.arange(t), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)  # [T, hd]
    cos, sin = np.cos(emb), np.sin(emb)

    def rotate_half(x: np.ndarray) -> np.ndarray:
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return np.concatenate([-x2, x1], axis=-1)

    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        outs = []
        for j in range(nh):
            kv = j // (nh // nkv)
            qj = q[:, j * hd : (j + 1) * hd]
            kj = k[:, kv * hd : (kv + 1) * hd]
            qj = qj * cos + rotate_half(qj) * sin
            kj = kj * cos + rotate_half(kj) * sin
            outs.append(_causal_attention(qj, kj, v[:, kv * hd : (kv + 1) * hd]))
        x = x + np.concatenate(outs, axis=-1) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = (
        w["model.embed_tokens.weight"]
        if cfg.get("tie_word_embeddings", False)
        else w["lm_head.weight"]
    )
    return x @ head.T
