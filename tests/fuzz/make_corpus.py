"""Writes the corpus of corrupt model files in ``tests/data/corrupt_models``.

Each file is one defect of the tiny Llama of ``models.py`` (a few KB at most), named
``<kind>/<defect>.<ext>``; ``MANIFEST.json`` maps it to a regular expression that the
``ModelError`` message must match. Kinds and how a file is used:

* ``safetensors/`` as ``model.safetensors`` next to a valid config.json
* ``config/`` as ``config.json`` next to valid weights
* ``index/`` as ``model.safetensors.index.json`` next to valid weights
* ``tokenizer/`` as ``tokenizer.json`` of a valid checkpoint
* ``gguf/`` as a ``.gguf`` file

Deterministic: run ``python tests/fuzz/make_corpus.py`` to rebuild; add a case here (and
its file) for every defect the fuzzer finds.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path[:0] = [
        str(Path(__file__).resolve().parents[1]),
        str(Path(__file__).resolve().parents[2]),
    ]

import numpy as np

from fuzz.models import (
    CONFIG,
    gguf_tensors,
    header_and_data,
    safetensors_bytes,
    tensors,
    write_gguf,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corrupt_models"
KINDS = ("safetensors", "config", "index", "tokenizer", "gguf")


def _st(
    mutate: Callable[[dict[str, Any]], Any] | None = None,
    data: Callable[[bytes], bytes] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    declared: int | None = None,
) -> bytes:
    header, blob = header_and_data(arrays if arrays is not None else tensors())
    if mutate is not None:
        header = mutate(header) or header
    return safetensors_bytes(header, data(blob) if data else blob, declared)


def _set(name: str, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(h: dict[str, Any]) -> None:
        h[name][field] = value

    return mutate


EMB, NORM, Q = (
    "model.embed_tokens.weight",
    "model.norm.weight",
    "model.layers.0.self_attn.q_proj.weight",
)


def safetensors_cases() -> dict[str, tuple[bytes, str]]:
    nan = tensors()
    nan[NORM][3] = np.nan
    wrong = tensors()
    wrong[Q] = wrong[Q].T.copy()[:, :4]
    dropped = tensors()
    dropped.pop(NORM)
    return {
        "empty.safetensors": (b"", r"truncated safetensors file: 0 bytes"),
        "short-length.safetensors": (b"\x10\x00\x00", r"truncated safetensors file: 3 bytes"),
        "length-u64-max.safetensors": (
            _st(declared=2**64 - 1),
            r"header length 18446744073709551615 exceeds the limit",
        ),
        "length-past-eof.safetensors": (
            struct.pack("<Q", 5000) + b'{"a": 1}',
            r"truncated safetensors header: declares 5000 bytes",
        ),
        "header-binary.safetensors": (
            struct.pack("<Q", 8) + b"\x00\xff\xfe\x80abcd",
            r"header is not valid JSON",
        ),
        "header-list.safetensors": (
            safetensors_bytes([1, 2, 3], b""),
            r"header must be a JSON object",
        ),
        "unknown-dtype.safetensors": (
            _st(_set(NORM, "dtype", "F33")),
            r"tensor 'model.norm.weight': unknown dtype 'F33'",
        ),
        "shape-negative.safetensors": (
            _st(_set(NORM, "shape", [-8])),
            r"shape must be a list of non-negative integers",
        ),
        "shape-bool.safetensors": (
            _st(_set(NORM, "shape", [True, 8])),
            r"shape must be a list of non-negative integers",
        ),
        "shape-huge.safetensors": (
            _st(_set(NORM, "shape", [2**62, 2**62])),
            r"needs \d+ bytes, data_offsets span 32",
        ),
        "offsets-reversed.safetensors": (
            _st(_set(NORM, "data_offsets", [544, 512])),
            r"data_offsets must be \[begin, end\]",
        ),
        "offsets-past-eof.safetensors": (
            _st(_set(NORM, "data_offsets", [512, 10**12])),
            r"run past the end of the file",
        ),
        "offsets-overlap.safetensors": (
            _st(_set(NORM, "data_offsets", [0, 32])),
            r"overlap in the data section",
        ),
        "offsets-not-ints.safetensors": (
            _st(_set(NORM, "data_offsets", ["0", 32.0])),
            r"data_offsets must be \[begin, end\]",
        ),
        "metadata-not-strings.safetensors": (
            _st(lambda h: h.update({"__metadata__": {"format": 1}})),
            r"__metadata__ must map strings to strings",
        ),
        "entry-not-object.safetensors": (
            _st(lambda h: h.update({NORM: [1, 2]})),
            r"header entry must be an object",
        ),
        "missing-tensor.safetensors": (_st(arrays=dropped), r"missing tensor 'model.norm.weight'"),
        "wrong-shape.safetensors": (
            _st(arrays=wrong),
            r"tensor 'model.layers.0.self_attn.q_proj.weight' has shape \[8, 4\], expected \[8, 8\]",
        ),
        "int-dtype.safetensors": (_st(lambda h: h[NORM].update({"dtype": "I32"})), r"dtype I32"),
        "nan-weights.safetensors": (
            _st(arrays=nan),
            r"tensor 'model.norm.weight' has 1 NaN or infinite values",
        ),
        "truncated-data.safetensors": (
            _st(data=lambda b: b[: len(b) // 2]),
            r"run past the end of the file",
        ),
    }


def _cfg(**over: Any) -> bytes:
    cfg = {**CONFIG, **over}
    return json.dumps({k: v for k, v in cfg.items() if v is not ...}).encode()


def config_cases() -> dict[str, tuple[bytes, str]]:
    return {
        "empty.json": (b"", r"config.json is not valid JSON"),
        "binary.json": (b"\xff\xfe\x00{", r"config.json is not valid JSON"),
        "list.json": (b"[1, 2]", r"config.json must hold a JSON object, got list"),
        "layers-huge.json": (
            _cfg(num_hidden_layers=10**9),
            r"'num_hidden_layers' = 1000000000 is out of range",
        ),
        "vocab-zero.json": (_cfg(vocab_size=0), r"'vocab_size' = 0 is out of range"),
        "heads-negative.json": (
            _cfg(num_attention_heads=-2),
            r"'num_attention_heads' = -2 is out of range",
        ),
        "hidden-not-divisible.json": (
            _cfg(num_attention_heads=3),
            r"hidden size 8 is not divisible by the number of heads 3",
        ),
        "kv-heads-not-dividing.json": (
            _cfg(num_key_value_heads=3, num_attention_heads=4, hidden_size=8),
            r"out of range|not a multiple",
        ),
        "size-float.json": (_cfg(hidden_size=8.0), r"'hidden_size' must be an integer, got 8.0"),
        "size-string.json": (_cfg(hidden_size="8"), r"'hidden_size' must be an integer, got '8'"),
        "size-bool.json": (_cfg(hidden_size=True), r"'hidden_size' must be an integer, got True"),
        "eps-nan.json": (
            _cfg(rms_norm_eps=float("nan")),
            r"'rms_norm_eps' must be a finite number, got nan",
        ),
        "theta-negative.json": (_cfg(rope_theta=-1.0), r"'rope_theta' = -1.0 must be > 0"),
        "unknown-arch.json": (
            _cfg(architectures=["MambaForCausalLM"], model_type="mamba"),
            r"unknown architecture \['MambaForCausalLM'\]",
        ),
        "arch-not-list.json": (
            _cfg(architectures="LlamaForCausalLM"),
            r"'architectures' must be a list of strings",
        ),
        "no-arch.json": (
            _cfg(architectures=..., model_type=...),
            r"unknown architecture: no 'architectures' list",
        ),
        "rope-yarn.json": (
            _cfg(rope_scaling={"rope_type": "yarn", "factor": 2.0}),
            r"rope scaling type 'yarn' is not supported",
        ),
        "rope-factor-zero.json": (
            _cfg(rope_scaling={"rope_type": "linear", "factor": 0}),
            r"'factor' = 0 must be > 0",
        ),
        "rope-not-object.json": (_cfg(rope_scaling=[1]), r"'rope_scaling' must be an object"),
        "act-gelu.json": (_cfg(hidden_act="gelu"), r"hidden_act 'gelu' is not supported"),
        "head-dim-odd.json": (_cfg(head_dim=3), r"head_dim 3 must be even"),
        "params-over-limit.json": (
            _cfg(
                vocab_size=2**22,
                hidden_size=65536,
                num_attention_heads=512,
                num_key_value_heads=512,
                intermediate_size=2**20,
                num_hidden_layers=1024,
            ),
            r"parameters, more than the limit",
        ),
        "tokenizer-unknown.json": (
            _cfg(hyperion_tokenizer="sentencepiece"),
            r"hyperion_tokenizer 'sentencepiece' is not supported",
        ),
    }


def _index(weight_map: Any) -> bytes:
    return json.dumps({"metadata": {}, "weight_map": weight_map}).encode()


def index_cases() -> dict[str, tuple[bytes, str]]:
    every = dict.fromkeys(tensors(), "model.safetensors")
    return {
        "not-json.json": (b"{nope", r"index file is not valid JSON"),
        "no-weight-map.json": (b'{"metadata": {}}', r"index file has no 'weight_map' object"),
        "empty-map.json": (_index({}), r"index file has no 'weight_map' object"),
        "dotdot.json": (
            _index({**every, NORM: "../outside.safetensors"}),
            r"weight_map points outside the checkpoint directory",
        ),
        "absolute.json": (
            _index({**every, NORM: "/etc/passwd"}),
            r"weight_map points outside the checkpoint directory",
        ),
        "nul-name.json": (
            _index({**every, NORM: "model.safetensors\x00.bin"}),
            r"weight_map names an invalid file",
        ),
        "not-a-string.json": (_index({**every, NORM: 7}), r"weight_map names an invalid file 7"),
        "the-directory.json": (
            _index({**every, NORM: "."}),
            r"weight_map points outside the checkpoint directory",
        ),
        "missing-shard.json": (
            _index({**every, NORM: "model-00002.safetensors"}),
            r"shard 'model-00002.safetensors' listed in model.safetensors.index.json does not exist",
        ),
        "config-as-shard.json": (
            _index({**every, NORM: "config.json"}),
            r"config.json: (safetensors header|truncated)",
        ),
        "pickle-shard.json": (_index({**every, NORM: "pytorch_model.bin"}), r"pytorch_model.bin"),
    }


def tokenizer_cases() -> dict[str, tuple[bytes, str]]:
    return {
        "not-json.json": (b"{nope", r"cannot read tokenizer.json"),
        "binary.json": (b"\xff\xfe\x00", r"cannot read tokenizer.json"),
        "bad-model-type.json": (
            b'{"version": "1.0", "model": {"type": "Nope"}}',
            r"cannot read tokenizer.json",
        ),
        "id-too-big.json": (
            b'{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 99999999999}, "merges": []}}',
            r"cannot read tokenizer.json",
        ),
    }


def gguf_cases(tmp: Path) -> dict[str, tuple[bytes, str]]:
    def make(name: str, **kw: Any) -> bytes:
        return write_gguf(tmp / name, **kw)

    base = make("base.gguf")
    counts = 8  # magic (4) + version (4) precede the tensor and kv counts
    big = gguf_tensors()
    big["output_norm.weight"] = np.zeros(9, np.float32)
    return {
        "magic-only.gguf": (b"GGUF", r"not a readable GGUF file"),
        "wrong-magic.gguf": (b"GGML" + base[4:], r"not a readable GGUF file"),
        "version-99.gguf": (
            base[:4] + struct.pack("<I", 99) + base[8:],
            r"not a readable GGUF file|GGUF version",
        ),
        "truncated-header.gguf": (base[:200], r"not a readable GGUF file"),
        "tensor-count-huge.gguf": (
            base[:counts] + struct.pack("<Q", 2**40) + base[counts + 8 :],
            r"not a readable GGUF file",
        ),
        "kv-count-huge.gguf": (
            base[: counts + 8] + struct.pack("<Q", 2**40) + base[counts + 16 :],
            r"not a readable GGUF file",
        ),
        "truncated-data.gguf": (
            base[: len(base) - 300],
            r"not a readable GGUF file|cannot be read",
        ),
        "unknown-arch.gguf": (make("mamba.gguf", arch="mamba"), r"unknown architecture 'mamba'"),
        "no-block-count.gguf": (
            make("nblk.gguf", fields={"block_count": None}),
            r"'num_hidden_layers' is missing",
        ),
        "zero-heads.gguf": (
            make("zh.gguf", fields={"attention.head_count": (0, "UINT32")}),
            r"'num_attention_heads' = 0 is out of range",
        ),
        "heads-as-string.gguf": (
            make("hs.gguf", fields={"attention.head_count": ("two", "STRING")}),
            r"'num_attention_heads' must be an integer",
        ),
        "eps-nan.gguf": (
            make(
                "nan.gguf", fields={"attention.layer_norm_rms_epsilon": (float("nan"), "FLOAT32")}
            ),
            r"must be a finite number",
        ),
        "wrong-shape.gguf": (
            make("shape.gguf", arrays=big),
            r"tensor 'model.norm.weight' has shape \[9\], expected \[8\]",
        ),
    }


def all_cases() -> dict[str, dict[str, tuple[bytes, str]]]:
    with tempfile.TemporaryDirectory() as d:
        return {
            "safetensors": safetensors_cases(),
            "config": config_cases(),
            "index": index_cases(),
            "tokenizer": tokenizer_cases(),
            "gguf": gguf_cases(Path(d)),
        }


def main() -> None:
    manifest: dict[str, str] = {}
    for kind, cases in all_cases().items():
        (CORPUS / kind).mkdir(parents=True, exist_ok=True)
        for name, (blob, pattern) in cases.items():
            (CORPUS / kind / name).write_bytes(blob)
            manifest[f"{kind}/{name}"] = pattern
    (CORPUS / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(manifest)} files in {CORPUS}")


if __name__ == "__main__":
    main()
