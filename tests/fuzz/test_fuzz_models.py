"""Property fuzzing of model files: safetensors headers and bytes, config.json fields,
the shard index, tokenizer.json, GGUF metadata and bytes. Only ``ModelError``/``InvalidInputError`` may escape, no case
hangs (per-case timer), none allocates beyond a bound (tracemalloc peak), and
``verify_model`` reports every file ``load_model`` refuses (see ``models.check_contract``).

Budget: the default run is deterministic and short (``FAST_EXAMPLES`` per target). The
``slow`` run explores at random with ``HYPERION_FUZZ_EXAMPLES`` per target (default
400); ``HYPERION_FUZZ_LONG=1`` makes it 5000. Counts are printed with ``-s``.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fuzz.models import (
    CONFIG,
    GGUF_FIELDS,
    Stats,
    check_contract,
    gguf_tensors,
    header_and_data,
    safetensors_bytes,
    tensors,
    valid_safetensors,
    write_checkpoint,
    write_gguf,
)

FAST_EXAMPLES = 40
LONG_EXAMPLES = (
    5000
    if os.environ.get("HYPERION_FUZZ_LONG") == "1"
    else int(os.environ.get("HYPERION_FUZZ_EXAMPLES", "400"))
)
STATS: dict[str, Stats] = {}

fast = settings(
    max_examples=FAST_EXAMPLES,
    derandomize=True,
    deadline=None,  # the per-case timer in check_contract is the hang detector
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
long = settings(fast, max_examples=LONG_EXAMPLES, derandomize=False)


@pytest.fixture(scope="module", autouse=True)
def _print_stats() -> Iterator[None]:
    """Prints what ran, and how much the process RSS grew (mostly hypothesis' own caches:
    tracemalloc bounds each case, ``test_corpus`` checks repeated loads for leaks)."""
    import tracemalloc

    import psutil

    proc = psutil.Process()
    # Trace for the whole module (check_contract resets the peak per case): starting and
    # stopping tracemalloc per case grows RSS by itself.
    tracemalloc.start()
    rss0 = proc.memory_info().rss
    try:
        yield
    finally:
        tracemalloc.stop()
    growth = proc.memory_info().rss - rss0
    print(f"\nfuzz RSS growth over the module: {growth / 2**20:.1f} MiB")
    for name, s in sorted(STATS.items()):
        print(
            f"\nfuzz {name}: {s.cases} cases, {s.rejected} rejected, {s.loaded} still loaded, "
            f"slowest {s.max_seconds:.3f} s, peak alloc {s.max_alloc_bytes / 2**20:.1f} MiB"
        )


def _stats(name: str) -> Stats:
    return STATS.setdefault(name, Stats())


# --- values -------------------------------------------------------------------------------------
BIG_INTS = st.sampled_from(
    [0, 1, -1, 2, 7, 255, 2**31 - 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63)]
)
INTS = st.one_of(BIG_INTS, st.integers(-1000, 1000), st.integers(-(2**70), 2**70))
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1e-300, 1e308, -1.0, math.nan, math.inf, -math.inf, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, st.text(max_size=12))
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DTYPES = st.one_of(
    st.sampled_from(
        ["F32", "F16", "BF16", "F64", "I8", "U8", "I32", "I64", "BOOL", "F8_E4M3", "F4", "C64"]
    ),
    st.text(max_size=6),
)


@st.composite
def shapes(draw: st.DrawFn) -> Any:
    return draw(
        st.one_of(st.lists(INTS, max_size=4), st.lists(st.integers(0, 20), max_size=3), JSON)
    )


@st.composite
def offsets(draw: st.DrawFn) -> Any:
    return draw(
        st.one_of(
            st.lists(INTS, min_size=2, max_size=2), st.lists(st.integers(0, 4000), max_size=3), JSON
        )
    )


# --- safetensors ----------------------------------------------------------------------------------
@st.composite
def safetensors_files(draw: st.DrawFn) -> bytes:
    """The tiny Llama's safetensors file with 1-4 mutations of its header and data."""
    header, data = header_and_data(tensors())
    header = json.loads(json.dumps(header))
    names = [n for n in header if n != "__metadata__"]
    declared: int | None = None
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                ["field", "field", "field", "drop", "add", "metadata", "header", "length", "data"]
            )
        )
        if kind == "field" and isinstance(header, dict) and names:
            name = draw(st.sampled_from(names))
            if isinstance(header.get(name), dict):
                fld = draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]))
                strat = {
                    "dtype": DTYPES,
                    "shape": shapes(),
                    "data_offsets": offsets(),
                    "extra": JSON,
                }[fld]
                header[name][fld] = draw(strat)
        elif kind == "drop" and isinstance(header, dict) and names:
            header.pop(draw(st.sampled_from(names)), None)
        elif kind == "add" and isinstance(header, dict):
            header[draw(st.text(max_size=30))] = draw(
                st.one_of(
                    st.fixed_dictionaries(
                        {"dtype": DTYPES, "shape": shapes(), "data_offsets": offsets()}
                    ),
                    JSON,
                )
            )
        elif kind == "metadata" and isinstance(header, dict):
            header["__metadata__"] = draw(JSON)
        elif kind == "header":
            header = draw(JSON)
        elif kind == "length":
            raw_len = len(json.dumps(header).encode())
            declared = draw(st.one_of(BIG_INTS.map(abs), st.integers(0, raw_len + 64)))
        else:
            cut = draw(st.integers(0, len(data)))
            data = data[:cut] + draw(st.binary(max_size=64))
    return safetensors_bytes(header, data, declared)


@st.composite
def byte_mutants(draw: st.DrawFn, base: bytes, header_bias: int) -> bytes:
    """``base`` with digits of its header changed, random bytes overwritten (mostly in its
    first ``header_bias`` bytes), truncated, or extended."""
    buf = bytearray(base)
    digits = [i for i in range(min(len(buf), header_bias)) if 0x30 <= buf[i] <= 0x39]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["digit", "digit", "set", "set", "truncate", "extend"]))
        if kind == "digit" and digits:  # keeps a JSON header parseable, changes a number
            i = draw(st.sampled_from(digits))
            if i < len(buf):
                buf[i] = draw(st.integers(0x30, 0x39))
        elif kind == "set" and buf:
            hi = min(len(buf), header_bias) if draw(st.booleans()) else len(buf)
            i = draw(st.integers(0, max(0, hi - 1)))
            buf[i : i + 1] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del buf[draw(st.integers(0, len(buf))) :]
        else:
            buf += draw(st.binary(max_size=32))
    return bytes(buf)


def _checkpoint_case(name: str, weights: bytes | None = None, config: bytes | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_checkpoint(Path(d) / "ck", weights, config)
        check_contract(path, _stats(name))


def _safetensors_header(blob: bytes) -> None:
    _checkpoint_case("safetensors header", weights=blob)


def _safetensors_bytes(blob: bytes) -> None:
    _checkpoint_case("safetensors bytes", weights=blob)


# --- config.json ----------------------------------------------------------------------------------
CONFIG_KEYS = [
    *CONFIG,
    "head_dim",
    "rope_scaling",
    "rope_parameters",
    "attention_bias",
    "mlp_bias",
    "hyperion_tokenizer",
    "n_embd",
    "torch_dtype",
]


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    cfg: Any = dict(CONFIG)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["set", "set", "set", "drop", "rope", "arch", "whole", "bytes"])
        )
        if kind == "set" and isinstance(cfg, dict):
            cfg[draw(st.sampled_from(CONFIG_KEYS))] = draw(st.one_of(INTS, FLOATS, JSON))
        elif kind == "drop" and isinstance(cfg, dict):
            cfg.pop(draw(st.sampled_from(CONFIG_KEYS)), None)
        elif kind == "rope" and isinstance(cfg, dict):
            cfg[draw(st.sampled_from(["rope_scaling", "rope_parameters"]))] = draw(
                st.fixed_dictionaries(
                    {
                        "rope_type": st.one_of(
                            st.sampled_from(["default", "linear", "llama3", "yarn"]), JSON
                        ),
                        "factor": st.one_of(FLOATS, JSON),
                        "original_max_position_embeddings": st.one_of(INTS, JSON),
                        "rope_theta": st.one_of(FLOATS, JSON),
                    }
                )
            )
        elif kind == "arch" and isinstance(cfg, dict):
            cfg["architectures"] = draw(
                st.one_of(
                    st.just(["GPT2LMHeadModel"]), st.lists(st.text(max_size=20), max_size=2), JSON
                )
            )
            cfg["model_type"] = draw(st.one_of(st.sampled_from(["gpt2", "llama"]), JSON))
        elif kind == "whole":
            cfg = draw(JSON)
        else:
            return draw(st.binary(max_size=64))
    return json.dumps(cfg).encode()


def _config(blob: bytes) -> None:
    _checkpoint_case("config.json", config=blob)


# --- sharded index and tokenizer.json -------------------------------------------------------------
TENSOR_NAMES = sorted(tensors())
FILE_NAMES = st.one_of(
    st.sampled_from(
        [
            "model.safetensors",
            "config.json",
            ".",
            "..",
            "../ck/model.safetensors",
            "/etc/passwd",
            "sub/model.safetensors",
            "model.safetensors\x00",
            "",
            "tokenizer.json",
        ]
    ),
    st.text(max_size=20),
)


@st.composite
def index_files(draw: st.DrawFn) -> bytes:
    """model.safetensors.index.json next to a valid model.safetensors."""
    weight_map: Any = {n: "model.safetensors" for n in TENSOR_NAMES}
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["file", "file", "name", "drop", "map", "whole"]))
        if kind == "file" and isinstance(weight_map, dict) and weight_map:
            weight_map[draw(st.sampled_from(sorted(weight_map)))] = draw(
                st.one_of(FILE_NAMES, JSON)
            )
        elif kind == "name" and isinstance(weight_map, dict):
            weight_map[draw(st.text(max_size=30))] = draw(FILE_NAMES)
        elif kind == "drop" and isinstance(weight_map, dict) and weight_map:
            weight_map.pop(draw(st.sampled_from(sorted(weight_map))))
        elif kind == "map":
            weight_map = draw(JSON)
        else:
            return json.dumps(draw(JSON)).encode()
    return json.dumps({"metadata": draw(JSON), "weight_map": weight_map}).encode()


def _index(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_checkpoint(Path(d) / "ck")
        (path / "model.safetensors.index.json").write_bytes(blob)
        check_contract(path, _stats("safetensors index"))


@st.composite
def tokenizer_files(draw: st.DrawFn) -> bytes:
    model = draw(
        st.fixed_dictionaries(
            {
                "type": st.one_of(
                    st.sampled_from(["BPE", "WordPiece", "WordLevel", "Unigram"]), JSON
                ),
                "vocab": st.one_of(
                    st.dictionaries(
                        st.text(max_size=4), st.one_of(st.integers(-5, 40), INTS), max_size=6
                    ),
                    st.lists(st.tuples(st.text(max_size=4), FLOATS), max_size=4),
                    JSON,
                ),
                "merges": st.one_of(st.lists(st.text(max_size=6), max_size=3), JSON),
                "unk_token": st.one_of(st.text(max_size=4), JSON),
            }
        )
    )
    doc = {"version": "1.0", "model": model}
    for key in draw(
        st.lists(
            st.sampled_from(
                ["added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"]
            ),
            max_size=2,
            unique=True,
        )
    ):
        doc[key] = draw(JSON)
    return json.dumps(doc).encode()


def _tokenizer(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_checkpoint(Path(d) / "ck")
        (path / "tokenizer.json").write_bytes(blob)
        check_contract(path, _stats("tokenizer.json"))


# --- GGUF -----------------------------------------------------------------------------------------
GGUF_TYPES = [
    "UINT8",
    "INT8",
    "UINT16",
    "INT16",
    "UINT32",
    "INT32",
    "FLOAT32",
    "BOOL",
    "UINT64",
    "INT64",
    "FLOAT64",
]


@st.composite
def gguf_values(draw: st.DrawFn) -> tuple[Any, str]:
    vtype = draw(st.sampled_from([*GGUF_TYPES, "STRING", "ARRAY"]))
    if vtype == "STRING":
        return draw(st.text(max_size=12)), vtype
    if vtype == "ARRAY":
        return draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4)), vtype
    if vtype == "BOOL":
        return draw(st.booleans()), vtype
    if vtype.startswith("FLOAT"):
        return draw(FLOATS), vtype
    bits = int("".join(c for c in vtype if c.isdigit()))
    lo, hi = (
        (0, 2**bits - 1) if vtype.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    return draw(st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, 1]))), vtype


@st.composite
def gguf_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Metadata overrides, tensor changes and architecture for ``write_gguf``."""
    fields: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(list(GGUF_FIELDS)), max_size=3, unique=True)):
        fields[key] = draw(st.one_of(st.none(), gguf_values()))
    arrays = dict(gguf_tensors())
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(arrays)))
        kind = draw(st.sampled_from(["drop", "reshape", "f16"]))
        if kind == "drop":
            arrays.pop(name)
        elif kind == "reshape":
            arrays[name] = arrays[name].reshape(-1)[: draw(st.integers(1, arrays[name].size))]
        else:
            arrays[name] = arrays[name].astype("float16")
    arch = draw(st.sampled_from(["llama", "llama", "llama", "gpt2", "mamba", ""]))
    return {
        "fields": fields,
        "arrays": arrays or {"x": gguf_tensors()["output_norm.weight"]},
        "arch": arch,
    }


def _gguf_case(name: str, make: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.gguf"
        make(path)
        check_contract(path, _stats(name))


def _gguf_metadata(spec: dict[str, Any]) -> None:
    def make(path: Path) -> None:
        try:
            write_gguf(path, spec["fields"], spec["arrays"], spec["arch"])
        except (ValueError, OverflowError, struct.error, TypeError):
            path.write_bytes(b"")  # the writer refused the value: an empty file then

    _gguf_case("gguf metadata", make)


_GGUF_BASE: list[bytes] = []


def _gguf_base() -> bytes:
    if not _GGUF_BASE:
        with tempfile.TemporaryDirectory() as d:
            _GGUF_BASE.append(write_gguf(Path(d) / "base.gguf"))
    return _GGUF_BASE[0]


def _gguf_bytes(blob: bytes) -> None:
    _gguf_case("gguf bytes", lambda p: p.write_bytes(blob))


# --- the tests: a fast deterministic pass, and a long random one ----------------------------------
_SAFETENSORS = valid_safetensors()
TARGETS: dict[str, tuple[Any, Callable[[Any], None]]] = {
    "safetensors_header": (safetensors_files(), _safetensors_header),
    "safetensors_bytes": (byte_mutants(_SAFETENSORS, 1200), _safetensors_bytes),
    "config": (config_files(), _config),
    "index": (index_files(), _index),
    "tokenizer": (tokenizer_files(), _tokenizer),
    "gguf_metadata": (gguf_specs(), _gguf_metadata),
    "gguf_bytes": (st.deferred(lambda: byte_mutants(_gguf_base(), 700)), _gguf_bytes),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_fast(target: str) -> None:
    strategy, check = TARGETS[target]
    fast(given(strategy)(check))()


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_long(target: str) -> None:
    strategy, check = TARGETS[target]
    long(given(strategy)(check))()


@pytest.mark.slow
def test_atheris_coverage_guided_run() -> None:
    """libFuzzer via atheris, when installed (optional): a bounded run over the corpus seeds."""
    pytest.importorskip("atheris")
    import subprocess
    import sys

    runs = 50_000 if os.environ.get("HYPERION_FUZZ_LONG") == "1" else 3000
    script = Path(__file__).with_name("atheris_models.py")
    out = subprocess.run(
        [sys.executable, str(script), f"-runs={runs}", "-max_len=8192"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert f"Done {runs} runs" in out.stderr
