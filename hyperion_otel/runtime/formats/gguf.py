"""GGUF files (llama.cpp): Llama and GPT-2, F32/F16/BF16/Q8_0.

The file is parsed from a memory map by ``_gguf_file`` (the ``gguf`` package is not
needed to read it; the tests use it to write files and as the reference reader).

Tensors are presented under the HF names and shapes the rest of the runtime expects, so
GGUF and safetensors share one weight builder. Two GGUF conventions are undone here:
llama.cpp permutes Llama's Q/K rows for its interleaved-pair RoPE (we use HF's halves),
and GPT-2 matrices are stored ``[out, in]`` where HF's Conv1D is ``[in, out]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.config import ArchConfig, SizeLimits, parse_config
from hyperion_otel.runtime.formats import TensorInfo, copy_c
from hyperion_otel.runtime.formats._gguf_file import GGUFFile, GGUFFormatError, TensorEntry
from hyperion_otel.runtime.formats.gguf_tokenizer import gguf_tokenizer
from hyperion_otel.runtime.tokenizer import Tokenizer, load_tokenizer

__all__ = ["GGUFSource", "dequantize_q8_0", "open_gguf"]

SUPPORTED_VERSIONS = (2, 3)
Q8_0_BLOCK, Q8_0_BYTES = 32, 34  # values per block; bytes per block (f16 scale + 32 int8)
F32 = npt.NDArray[np.float32]

_LLAMA_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_LLAMA_BLOCK = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_GPT2_NAMES = {
    "token_embd.weight": "wte.weight",
    "position_embd.weight": "wpe.weight",
    "output_norm.weight": "ln_f.weight",
    "output_norm.bias": "ln_f.bias",
}
_GPT2_BLOCK = {
    "attn_norm.weight": "ln_1.weight",
    "attn_norm.bias": "ln_1.bias",
    "attn_qkv.weight": "attn.c_attn.weight",
    "attn_qkv.bias": "attn.c_attn.bias",
    "attn_output.weight": "attn.c_proj.weight",
    "attn_output.bias": "attn.c_proj.bias",
    "ffn_norm.weight": "ln_2.weight",
    "ffn_norm.bias": "ln_2.bias",
    "ffn_up.weight": "mlp.c_fc.weight",
    "ffn_up.bias": "mlp.c_fc.bias",
    "ffn_down.weight": "mlp.c_proj.weight",
    "ffn_down.bias": "mlp.c_proj.bias",
}
_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")


def _fail(path: Path, msg: str) -> ModelError:
    return ModelError(f"{path}: {msg}", path=str(path))


def _field(reader: GGUFFile, key: str) -> Any:
    return reader.field(key)


def _hf_name(arch: str, gguf_name: str) -> str | None:
    names, block = (_LLAMA_NAMES, _LLAMA_BLOCK) if arch == "llama" else (_GPT2_NAMES, _GPT2_BLOCK)
    if gguf_name in names:
        return names[gguf_name]
    m = _BLOCK.match(gguf_name)
    if m and m.group(2) in block:
        prefix = "model.layers." if arch == "llama" else "h."
        return f"{prefix}{m.group(1)}.{block[m.group(2)]}"
    return None


def _unpermute(w: F32, n_heads: int) -> F32:
    # llama.cpp's permute: rows (head, 2, hd/2) -> (head, hd/2, 2); this is its inverse.
    rows = w.shape[0]
    return np.ascontiguousarray(
        w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


class GGUFSource:
    """A GGUF file's tensors under HF names (see module doc)."""

    format = "gguf"

    def __init__(self, path: Path, reader: GGUFFile, arch: str, version: int) -> None:
        self.path = str(path)
        self.format_version: str | None = str(version)
        self._reader = reader
        self._arch = arch
        self._tensors: dict[str, TensorEntry] = {}
        self._infos: dict[str, TensorInfo] = {}
        self._swapped: set[str] = set()  # presented as the transpose of the stored matrix
        self._fix: dict[str, Callable[[F32], F32]] = {}
        for t in reader.tensors:
            hf = _hf_name(arch, t.name)
            if hf is None:
                continue
            shape = t.shape
            if (
                arch == "gpt2"
                and hf.endswith("weight")
                and len(shape) == 2
                and "wte" not in hf
                and "wpe" not in hf
            ):
                shape = (shape[1], shape[0])  # presented as HF Conv1D [in, out]
                self._swapped.add(hf)
            self._tensors[hf] = t
            self._infos[hf] = TensorInfo(hf, t.type_name, shape, t.nbytes)

    def set_heads(self, n_heads: int, n_kv_heads: int) -> None:
        if self._arch == "llama":
            for name in self._tensors:
                if name.endswith("q_proj.weight"):
                    self._fix[name] = lambda w: _unpermute(w, n_heads)
                elif name.endswith("k_proj.weight"):
                    self._fix[name] = lambda w: _unpermute(w, n_kv_heads)

    def infos(self) -> dict[str, TensorInfo]:
        return dict(self._infos)

    def read_fp32(self, name: str, transpose: bool = False, out: F32 | None = None) -> F32:
        """The tensor (its transpose with ``transpose``) as a new float32 C-contiguous array.

        GPT-2 matrices are stored ``[out, in]``, the runtime's own layout: asked for the
        transpose of the Conv1D ``[in, out]`` they are presented as, they come straight
        from the file, one pass over the bytes (into ``out`` when given).
        """
        t = self._tensors[name]
        arr, is_view = self._decode(t, 0, t.shape[0] if t.shape else 1)
        arr = arr.reshape(t.shape)
        fix = self._fix.get(name)
        if fix is not None:
            arr, is_view = fix(arr), False
        if (name in self._swapped) != transpose:
            return copy_c(arr.T, np.float32, out)
        if is_view or out is not None:
            return copy_c(arr, np.float32, out)
        return np.ascontiguousarray(arr)

    def sample_fp32(self, name: str, max_elements: int) -> Iterator[F32]:
        """Evenly spaced rows (first and last included) of about ``max_elements`` values.

        Rows as stored: the values are those of the tensor, in the file's layout (Q/K rows
        still permuted, GPT-2 matrices not transposed), which is all a value check needs.
        Quantised tensors are stored as whole rows of blocks, so each row decodes alone.
        """
        t = self._tensors[name]
        total = math.prod(t.dims)
        if total <= max_elements or len(t.dims) < 2:
            yield self.read_fp32(name)
            return
        rows = t.shape[0]
        n_rows = max(1, max_elements // max(1, total // rows))
        for r in np.linspace(0, rows - 1, num=min(rows, n_rows), dtype=np.int64):
            yield self._decode(t, int(r), 1)[0]

    def _decode(self, t: TensorEntry, row: int, n_rows: int) -> tuple[F32, bool]:
        """Rows ``row .. row + n_rows`` (numpy order, flattened) as float32; and whether
        the result is a view of the file (F32 is read in place)."""
        kind = t.type_name
        rows = t.shape[0] if t.shape else 1
        per_row = math.prod(t.dims) // max(1, rows)
        count = per_row * n_rows
        e = self._reader.byteorder
        if kind == "F32":
            return self._reader.raw(t, e + "f4", count, row * per_row * 4), True
        if kind == "F16":
            return self._reader.raw(t, e + "f2", count, row * per_row * 2).astype(np.float32), False
        if kind == "BF16":
            bits = self._reader.raw(t, e + "u2", count, row * per_row * 2)
            return (bits.astype(np.uint32) << 16).view(np.float32), False
        if kind == "Q8_0":
            blocks = count // Q8_0_BLOCK
            raw = self._reader.raw(t, np.uint8, blocks * Q8_0_BYTES, row * per_row // 32 * 34)
            return dequantize_q8_0(raw.reshape(blocks, Q8_0_BYTES), e), False
        raise _fail(
            Path(self.path), f"tensor {t.name!r} has type {kind}; supported: F32, F16, BF16, Q8_0"
        )

    def close(self) -> None:
        self._reader.close()
        self._tensors = {}


def dequantize_q8_0(blocks: npt.NDArray[np.uint8], byteorder: str = "<") -> F32:
    """Q8_0 blocks ``[n, 34]`` (f16 scale d, 32 int8 q) -> ``[n * 32]`` float32 ``q * d``.

    One pass, no temporaries beyond the scales: the same float32 products as llama.cpp's
    ``dequantize_row_q8_0`` and ``gguf.quants``.
    """
    d = blocks[:, :2].view(byteorder + "f2").astype(np.float32)  # [n, 1]
    out = np.empty((blocks.shape[0], Q8_0_BLOCK), np.float32)
    np.multiply(blocks[:, 2:].view(np.int8), d, out=out)
    return out.reshape(-1)


def _hf_config(path: Path, reader: GGUFFile, arch: str, source: GGUFSource) -> dict[str, Any]:
    def get(key: str) -> Any:
        return _field(reader, f"{arch}.{key}")

    infos = source.infos()
    emb = infos.get("model.embed_tokens.weight" if arch == "llama" else "wte.weight")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    vocab = emb.shape[0] if emb is not None else (len(tokens) if isinstance(tokens, list) else None)
    common = {
        "vocab_size": vocab,
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id"),
        "_name_or_path": _field(reader, "general.name") or path.stem,
    }
    if arch == "llama":
        heads = get("attention.head_count")
        return {
            **common,
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": get("embedding_length"),
            "intermediate_size": get("feed_forward_length"),
            "num_hidden_layers": get("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": get("attention.head_count_kv") or heads,
            "max_position_embeddings": get("context_length"),
            "rms_norm_eps": get("attention.layer_norm_rms_epsilon"),
            "rope_theta": get("rope.freq_base"),
            "tie_word_embeddings": "lm_head.weight" not in infos,
        }
    return {
        **common,
        "architectures": ["GPT2LMHeadModel"],
        "n_embd": get("embedding_length"),
        "n_inner": get("feed_forward_length"),
        "n_layer": get("block_count"),
        "n_head": get("attention.head_count"),
        "n_positions": get("context_length"),
        "layer_norm_epsilon": get("attention.layer_norm_epsilon"),
    }


def open_gguf(
    path: Path, limits: SizeLimits | None = None
) -> tuple[ArchConfig, GGUFSource, Tokenizer | None]:
    """Open a GGUF file: config from its metadata, tensors under HF names."""
    try:
        reader = GGUFFile(path)
    except (GGUFFormatError, OSError) as exc:
        raise _fail(path, f"not a readable GGUF file: {exc}") from None
    version = _field(reader, "GGUF.version")
    if version not in SUPPORTED_VERSIONS:
        raise _fail(path, f"GGUF version {version!r} is not supported (supported: 2, 3)")
    arch = _field(reader, "general.architecture")
    if arch not in ("llama", "gpt2"):
        raise _fail(
            path, f"unknown architecture {arch!r} in general.architecture (supported: llama, gpt2)"
        )
    source = GGUFSource(path, reader, arch, version)
    raw = {k: v for k, v in _hf_config(path, reader, arch, source).items() if v is not None}
    cfg = parse_config(raw, str(path), limits)
    source.set_heads(cfg.n_heads, cfg.n_kv_heads)
    # A tokenizer.json placed beside the file wins over the one embedded in it.
    tokenizer = load_tokenizer(path.parent, None, cfg.bos_token_id)
    if tokenizer is None:
        tokenizer = gguf_tokenizer(path, lambda key: _field(reader, key), cfg.bos_token_id)
    return cfg, source, tokenizer
