"""The GGUF parser against the gguf package's own reader, and the weights it yields."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import get_model_info, load_model
from hyperion_otel.runtime.formats._gguf_file import GGUFFile
from hyperion_otel.runtime.formats.gguf import dequantize_q8_0, open_gguf

from .checkpoints import stored_as
from .test_gguf import write_gpt2_gguf


def _write_metadata_file(path):
    wr = gguf.GGUFWriter(str(path), "llama")
    wr.add_uint8("t.u8", 200)
    wr.add_int8("t.i8", -100)
    wr.add_uint16("t.u16", 60000)
    wr.add_int16("t.i16", -30000)
    wr.add_uint32("t.u32", 4_000_000_000)
    wr.add_int32("t.i32", -2_000_000_000)
    wr.add_float32("t.f32", 0.1)
    wr.add_uint64("t.u64", 2**63 + 5)
    wr.add_int64("t.i64", -(2**62))
    wr.add_float64("t.f64", 1e-300)
    wr.add_bool("t.bool", True)
    wr.add_string("t.str", "héllo ✓")
    wr.add_array("t.ints", [1, -2, 3])
    wr.add_array("t.floats", [0.5, 1.25])
    wr.add_array("t.strs", ["a", "", "ü ✓", "Ġthe"])
    wr.add_array("t.bools", [True, False, True])
    wr.add_array("t.nested", [[1, 2], [3]])
    wr.add_tensor("x", np.arange(12, dtype=np.float32).reshape(3, 4))
    wr.add_tensor("h", np.arange(64, dtype=np.float16).reshape(2, 32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


def test_metadata_and_tensor_table_match_the_gguf_reader(tmp_path):
    path = _write_metadata_file(tmp_path / "m.gguf")
    ref = gguf.GGUFReader(str(path))
    ours = GGUFFile(path)
    keys = [k for k in ref.fields if not k.startswith("GGUF.") or k == "GGUF.version"]
    assert sorted(k for k in ours.fields) == sorted(keys)
    for key in keys:
        if key != "t.nested":  # the gguf package flattens nested arrays; we keep them
            assert ours.field(key) == ref.fields[key].contents(), key
    assert ours.field("t.nested") == [[1, 2], [3]]
    assert [(t.name, t.type_name, t.dims, t.nbytes) for t in ours.tensors] == [
        (t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), int(t.n_bytes))
        for t in ref.tensors
    ]
    for t, r in zip(ours.tensors, ref.tensors, strict=True):
        dtype = np.float32 if t.type_name == "F32" else np.float16
        got = ours.raw(t, dtype, int(np.prod(t.dims))).reshape(t.shape)
        np.testing.assert_array_equal(got, r.data)


def test_q8_0_dequantisation_is_bit_identical_to_gguf_quants():
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((64, 96)) * rng.uniform(0.01, 3, (64, 1))).astype(np.float32)
    w[5, :32] = 0.0  # an all-zero block: scale 0
    q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
    want = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
    got = dequantize_q8_0(q.reshape(-1, 34)).reshape(want.shape)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0"])
def test_gpt2_gguf_weights_are_owned_float32_in_runtime_layout(make_gpt2, tmp_path, qtype):
    ck = make_gpt2(n_embd=32)
    path = write_gpt2_gguf(tmp_path / "g.gguf", ck, qtype)
    model = load_model(path)
    lw = model.weights.layers[0]
    stored = ck.weights["h.0.mlp.c_fc.weight"].T  # [out, in] as the runtime applies it
    if qtype == "F16":
        stored = stored.astype(np.float16).astype(np.float32)
    elif qtype == "Q8_0":
        q = gguf.quants.quantize(np.ascontiguousarray(stored), gguf.GGMLQuantizationType.Q8_0)
        stored = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
    np.testing.assert_array_equal(lw.w_up, stored)
    for arr in (lw.w_qkv, lw.w_up, model.weights.embed):
        # Views of the read-only file map are read-only: a writeable array is a copy.
        assert arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.writeable


def test_truncated_gguf_is_refused_by_name(make_gpt2, tmp_path):
    path = write_gpt2_gguf(tmp_path / "g.gguf", make_gpt2())
    data = path.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelError, match="runs past the end"):
        load_model(cut)
    cut.write_bytes(data[:200])
    with pytest.raises(ModelError, match="not a readable GGUF file"):
        open_gguf(cut)


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_safetensors_weights_are_owned_float32_in_runtime_layout(make_gpt2, dtype):
    ck = make_gpt2(dtype=dtype, n_embd=32)
    lw = load_model(ck.path).weights.layers[1]
    want = stored_as({"w": ck.weights["h.1.attn.c_attn.weight"]}, dtype)["w"].T
    np.testing.assert_array_equal(lw.w_qkv, want)
    assert lw.w_qkv.flags.c_contiguous and lw.w_qkv.flags.writeable


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0"])
def test_model_info_states_the_memory_of_the_float32_upcast(make_gpt2, tmp_path, qtype):
    ck = make_gpt2(n_embd=32)
    path = write_gpt2_gguf(tmp_path / "g.gguf", ck, qtype)
    info = get_model_info(path)
    weights = load_model(path).weights
    assert info.loaded_bytes == weights.nbytes
    values = weights.nbytes // 4
    matrix_values = sum(
        v.size for k, v in ck.weights.items() if v.ndim == 2 and not k.startswith(("wte", "wpe"))
    )
    per_value = {"F32": 0.0, "F16": 2.0, "Q8_0": 4 - 34 / 32}[qtype]  # bytes added per value
    assert info.upcast_bytes == round(matrix_values * per_value)
    assert values > matrix_values  # embeddings and norms stay F32 in these files
