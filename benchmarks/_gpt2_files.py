"""One random GPT-2-small-shaped model written as the formats a user would load.

An HF checkpoint directory (config.json, model.safetensors, tokenizer.json) and GGUF files
(F32, F16, Q8_0) laid out as llama.cpp's ``convert_hf_to_gguf.py`` writes GPT-2: matrices
``[out, in]``, the tied head stored again as ``output.weight``, a byte-level BPE vocabulary
of ``vocab_size`` tokens with its merges. All files hold the same weights, so load times
and decode speeds compare like for like. Files are cached by shape under ``directory``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GGUF_TYPES", "SHAPE", "make_files"]

SHAPE = {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
GGUF_TYPES = ("F32", "F16", "Q8_0")
EOS = "<|endoftext|>"


def _byte_chars() -> list[str]:
    # GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest above 255.
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(256)]


def vocabulary(size: int) -> tuple[list[str], list[str]]:
    """(tokens, merges): 256 byte tokens, then pair tokens each with its merge, then EOS."""
    base = _byte_chars()
    tokens = list(base)
    merges: list[str] = []
    for a in base:
        for b in base:
            if len(tokens) >= size - 1:
                break
            tokens.append(a + b)
            merges.append(f"{a} {b}")
    tokens.append(EOS)
    return tokens, merges


def weights(shape: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """HF GPT-2 tensors (Conv1D ``[in, out]``), random like a fresh ``GPT2LMHeadModel``."""
    rng = np.random.default_rng(seed)
    d, v, p, n = shape["n_embd"], shape["vocab_size"], shape["n_positions"], shape["n_layer"]

    def r(*s: int, scale: float = 0.02) -> np.ndarray:
        return rng.standard_normal(s, dtype=np.float32) * np.float32(scale)

    w = {"wte.weight": r(v, d), "wpe.weight": r(p, d, scale=0.01)}
    w |= {"ln_f.weight": np.ones(d, np.float32), "ln_f.bias": r(d)}
    for i in range(n):
        q = f"h.{i}."
        w |= {
            q + "ln_1.weight": np.ones(d, np.float32),
            q + "ln_1.bias": r(d),
            q + "attn.c_attn.weight": r(d, 3 * d),
            q + "attn.c_attn.bias": r(3 * d),
            q + "attn.c_proj.weight": r(d, d),
            q + "attn.c_proj.bias": r(d),
            q + "ln_2.weight": np.ones(d, np.float32),
            q + "ln_2.bias": r(d),
            q + "mlp.c_fc.weight": r(d, 4 * d),
            q + "mlp.c_fc.bias": r(4 * d),
            q + "mlp.c_proj.weight": r(4 * d, d),
            q + "mlp.c_proj.bias": r(d),
        }
    return w


def _config(shape: dict[str, int]) -> dict[str, Any]:
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        **shape,
        "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
        "bos_token_id": shape["vocab_size"] - 1,
        "eos_token_id": shape["vocab_size"] - 1,
    }


def _tokenizer_json(tokens: list[str], merges: list[str]) -> dict[str, Any]:
    eos = len(tokens) - 1
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": eos,
                "content": EOS,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": True,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": merges,
        },
    }


def _write_hf(directory: Path, shape: dict[str, int], w: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tokens, merges = vocabulary(shape["vocab_size"])
    save_file(w, str(directory / "model.safetensors"), metadata={"format": "pt"})
    (directory / "tokenizer.json").write_text(json.dumps(_tokenizer_json(tokens, merges)))
    (directory / "config.json").write_text(json.dumps(_config(shape)))


_GGUF_BLOCK = {
    "ln_1": "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
}


def _write_gguf(path: Path, shape: dict[str, int], w: dict[str, np.ndarray], qtype: str) -> None:
    import gguf

    def add(name: str, arr: np.ndarray, quantise: bool) -> None:
        if quantise and qtype == "Q8_0":
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
            wr.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        elif quantise and qtype == "F16":
            wr.add_tensor(name, arr.astype(np.float16))
        else:
            wr.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))

    d, n = shape["n_embd"], shape["n_layer"]
    tokens, merges = vocabulary(shape["vocab_size"])
    eos = len(tokens) - 1
    wr = gguf.GGUFWriter(str(path), "gpt2")
    wr.add_name("gpt2-small-random")
    wr.add_block_count(n)
    wr.add_context_length(shape["n_positions"])
    wr.add_embedding_length(d)
    wr.add_feed_forward_length(4 * d)
    wr.add_head_count(shape["n_head"])
    wr.add_layer_norm_eps(1e-5)
    wr.add_file_type(
        {"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16}.get(
            qtype, gguf.LlamaFileType.MOSTLY_Q8_0
        )
    )
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("gpt-2")
    wr.add_token_list(tokens)
    types = [gguf.TokenType.NORMAL] * eos + [gguf.TokenType.CONTROL]
    wr.add_token_types(types)
    wr.add_token_merges(merges)
    wr.add_bos_token_id(eos)
    wr.add_eos_token_id(eos)
    # As convert_hf_to_gguf: embeddings F32 under Q8_0 only for tiny rows; here all 2-D
    # weights take the file's type, the tied head stored again as output.weight.
    add("token_embd.weight", w["wte.weight"], True)
    add("position_embd.weight", w["wpe.weight"], False)
    add("output_norm.weight", w["ln_f.weight"], False)
    add("output_norm.bias", w["ln_f.bias"], False)
    add("output.weight", w["wte.weight"], True)
    for i in range(n):
        for hf, gg in _GGUF_BLOCK.items():
            wt, b = w[f"h.{i}.{hf}.weight"], w[f"h.{i}.{hf}.bias"]
            if wt.ndim == 2:
                add(f"blk.{i}.{gg}.weight", np.ascontiguousarray(wt.T), True)
            else:
                add(f"blk.{i}.{gg}.weight", wt, False)
            add(f"blk.{i}.{gg}.bias", b, False)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def make_files(directory: Path, shape: dict[str, int] | None = None) -> dict[str, Path]:
    """Write (or reuse) the files; keys ``"safetensors"`` (a directory) and each GGUF type."""
    s = {**SHAPE, **(shape or {})}
    tag = "-".join(f"{k}{v}" for k, v in sorted(s.items()))
    root = Path(directory) / f"gpt2-{tag}"
    out = {"safetensors": root / "hf"} | {t: root / f"gpt2-{t.lower()}.gguf" for t in GGUF_TYPES}
    done = root / "complete"
    if done.exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    w = weights(s)
    _write_hf(out["safetensors"], s, w)
    for t in GGUF_TYPES:
        _write_gguf(out[t], s, w, t)
    done.write_text("ok")
    return out
