"""The shipped built-in model (hyperion_otel/runtime/builtin/tiny) against an independent forward.

The forward below is a straightforward numpy transcription of HF Llama (RMSNorm in fp32,
rotate_half RoPE, grouped-query attention, SwiGLU), written without the package runtime so it
checks the weights and config themselves, and the fixture torch recorded at export time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits

TINY = Path(__file__).resolve().parents[2] / "hyperion_otel" / "runtime" / "builtin" / "tiny"
EOT = 256


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    # These matrices are tiny: a multi-threaded BLAS on a busy 2-core box is 10-100x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return json.loads((TINY / "config.json").read_text())


@pytest.fixture(scope="module")
def raw_weights() -> dict[str, np.ndarray]:
    return load_file(str(TINY / "model.safetensors"))


@pytest.fixture(scope="module")
def weights(raw_weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # Compute in fp32 over the fp16 weights, as torch did for the fixture.
    return {k: v.astype(np.float32) for k, v in raw_weights.items()}


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * w


def rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def forward(ids: list[int], cfg: dict[str, Any], w: dict[str, np.ndarray]) -> np.ndarray:
    """Logits [t, vocab] for every position, no cache; `w` holds fp32 arrays."""
    W = w
    d = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // nh
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    inv_freq = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    freqs = np.outer(np.arange(t, dtype=np.float32), inv_freq)  # [t, hd/2]
    emb = np.concatenate([freqs, freqs], axis=-1)  # [t, hd]
    cos, sin = np.cos(emb), np.sin(emb)
    mask = np.triu(np.full((t, t), -np.inf, dtype=np.float32), k=1)

    x = W["model.embed_tokens.weight"][ids]  # [t, d]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(t, nh, hd).transpose(1, 0, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(t, nkv, hd).transpose(1, 0, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(t, nkv, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin  # [nh, t, hd]
        k = k * cos + rotate_half(k) * sin  # [nkv, t, hd]
        heads = []
        for j in range(nh):
            kv = j // (nh // nkv)
            s = q[j] @ k[kv].T / np.sqrt(hd) + mask  # [t, t]
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            heads.append((s / s.sum(axis=-1, keepdims=True)) @ v[kv])  # [t, hd]
        att = np.concatenate(heads, axis=-1)  # [t, nh*hd]
        x = x + att @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1.0 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T  # [t, vocab]


def greedy(prompt: str, n: int, cfg: dict[str, Any], w: dict[str, np.ndarray]) -> str:
    ids = list(prompt.encode("utf-8"))
    out: list[int] = []
    for _ in range(n):
        nxt = int(np.argmax(forward(ids, cfg, w)[-1]))
        if nxt == EOT:
            break
        ids.append(nxt)
        out.append(nxt)
    return bytes(out).decode("utf-8", errors="replace")


def test_config_follows_the_hf_llama_layout(config: dict[str, Any]) -> None:
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["model_type"] == "llama"
    assert config["vocab_size"] == 257
    assert config["bos_token_id"] == config["eos_token_id"] == EOT
    assert config["hyperion_tokenizer"] == "byte"
    assert config["torch_dtype"] == "float16"
    assert config["num_key_value_heads"] < config["num_attention_heads"]
    assert config["num_attention_heads"] % config["num_key_value_heads"] == 0
    assert config["max_position_embeddings"] == 256
    training = config["hyperion_training"]
    for key in (
        "data_source",
        "text_bytes",
        "steps",
        "final_train_loss_nats_per_byte",
        "final_val_loss_nats_per_byte",
    ):
        assert training[key], key


def test_tensors_have_hf_names_shapes_and_fp16(
    config: dict[str, Any], raw_weights: dict[str, np.ndarray]
) -> None:
    weights = raw_weights
    d, ff = config["hidden_size"], config["intermediate_size"]
    hd = d // config["num_attention_heads"]
    kv = config["num_key_value_heads"] * hd
    expected = {"model.embed_tokens.weight": (257, d), "model.norm.weight": (d,)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        expected |= {
            p + "input_layernorm.weight": (d,),
            p + "post_attention_layernorm.weight": (d,),
            p + "self_attn.q_proj.weight": (d, d),
            p + "self_attn.k_proj.weight": (kv, d),
            p + "self_attn.v_proj.weight": (kv, d),
            p + "self_attn.o_proj.weight": (d, d),
            p + "mlp.gate_proj.weight": (ff, d),
            p + "mlp.up_proj.weight": (ff, d),
            p + "mlp.down_proj.weight": (d, ff),
        }
    if not config["tie_word_embeddings"]:
        expected["lm_head.weight"] = (257, d)
    assert {k: v.shape for k, v in weights.items()} == expected
    assert all(v.dtype == np.float16 for v in weights.values())
    assert all(np.isfinite(v).all() for v in weights.values())
    assert (TINY / "model.safetensors").stat().st_size <= 4 * 1024 * 1024


def test_numpy_forward_matches_the_torch_fixture(
    config: dict[str, Any], weights: dict[str, np.ndarray]
) -> None:
    fx = config["hyperion_training"]["fixture"]
    logits = forward(list(fx["prompt"].encode("utf-8")), config, weights)
    last = logits[-1]
    top = np.argsort(-last)[:5]
    assert top.tolist() == fx["last_top5_ids"]
    np.testing.assert_allclose(last[top], fx["last_top5_logits"], atol=1e-2)
    np.testing.assert_allclose(logits[0, :8], fx["first_logits_0_8"], atol=1e-2)
    assert abs(float(last.sum()) - fx["last_logits_sum"]) < 1e-2 * 257


def test_greedy_continuation_is_english_ish_text(
    config: dict[str, Any], weights: dict[str, np.ndarray]
) -> None:
    fx = config["hyperion_training"]["fixture"]
    text = greedy(fx["prompt"], 40, config, weights)
    # Same decisions as torch made at export (both fp32 over the same fp16 weights).
    assert text == fx["greedy_64"][: len(text)]
    printable = sum(ch.isascii() and (ch.isprintable() or ch == "\n") for ch in text)
    assert printable >= 0.95 * len(text), text
    assert len(re.findall(r"\b[a-z]{2,}\b", text)) >= 4, text


def test_model_prefers_english_to_shuffled_bytes(
    config: dict[str, Any], weights: dict[str, np.ndarray]
) -> None:
    sentence = "Return a new list containing all items from the iterable in ascending order."
    rng = np.random.default_rng(0)
    shuffled = "".join(rng.permutation(list(sentence)))

    def nats_per_byte(s: str) -> float:
        ids = [EOT, *s.encode("utf-8")]
        logits = forward(ids[:-1], config, weights)
        logits = logits - logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return float(-logp[np.arange(len(ids) - 1), ids[1:]].mean())

    english = nats_per_byte(sentence)
    assert english < 2.0
    assert english < nats_per_byte(shuffled) - 1.0
