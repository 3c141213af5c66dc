"""GGUF checkpoints (written with the gguf package as llama.cpp lays them out)."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import get_model_info, load_model, verify_model

IDS = [3, 17, 5, 42, 0, 9, 33, 12]


def _permute(w, n_head):  # llama.cpp convert_hf_to_gguf's Q/K permutation
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _add(writer, name, arr, qtype):
    if qtype == "Q8_0":
        writer.add_tensor(
            name,
            gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0),
            raw_dtype=gguf.GGMLQuantizationType.Q8_0,
        )
    elif qtype == "F16":
        writer.add_tensor(name, arr.astype(np.float16))
    else:
        writer.add_tensor(name, arr)


def write_llama_gguf(path, ck, qtype="F32", tokenizer=None):
    """``tokenizer(writer)``, when given, adds the ``tokenizer.ggml.*`` metadata."""
    c, w = ck.cfg, ck.weights
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    wr = gguf.GGUFWriter(str(path), "llama")
    if tokenizer is not None:
        tokenizer(wr)
    wr.add_block_count(c["num_hidden_layers"])
    wr.add_context_length(c["max_position_embeddings"])
    wr.add_embedding_length(c["hidden_size"])
    wr.add_feed_forward_length(c["intermediate_size"])
    wr.add_head_count(nh)
    wr.add_head_count_kv(nkv)
    wr.add_layer_norm_rms_eps(c["rms_norm_eps"])
    wr.add_rope_freq_base(c["rope_theta"])
    wr.add_bos_token_id(c["bos_token_id"])
    wr.add_eos_token_id(c["eos_token_id"])
    _add(wr, "token_embd.weight", w["model.embed_tokens.weight"], "F32")
    _add(wr, "output_norm.weight", w["model.norm.weight"], "F32")
    _add(wr, "output.weight", w["lm_head.weight"], qtype)
    names = {
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for i in range(c["num_hidden_layers"]):
        for hf, gg in names.items():
            arr = w[f"model.layers.{i}.{hf}.weight"]
            if gg == "attn_q":
                arr = _permute(arr, nh)
            elif gg == "attn_k":
                arr = _permute(arr, nkv)
            _add(
                wr,
                f"blk.{i}.{gg}.weight",
                np.ascontiguousarray(arr),
                qtype if arr.ndim == 2 else "F32",
            )
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


def write_gpt2_gguf(path, ck, qtype="F32", tokenizer=None):
    c, w = ck.cfg, ck.weights
    wr = gguf.GGUFWriter(str(path), "gpt2")
    if tokenizer is not None:
        tokenizer(wr)
    wr.add_block_count(c["n_layer"])
    wr.add_context_length(c["n_positions"])
    wr.add_embedding_length(c["n_embd"])
    wr.add_feed_forward_length(4 * c["n_embd"])
    wr.add_head_count(c["n_head"])
    wr.add_layer_norm_eps(c["layer_norm_epsilon"])
    wr.add_tensor("token_embd.weight", w["wte.weight"])
    wr.add_tensor("position_embd.weight", w["wpe.weight"])
    wr.add_tensor("output_norm.weight", w["ln_f.weight"])
    wr.add_tensor("output_norm.bias", w["ln_f.bias"])
    wr.add_tensor("output.weight", w["wte.weight"])  # llama.cpp stores the tied head again
    names = {
        "ln_1": "attn_norm",
        "attn.c_attn": "attn_qkv",
        "attn.c_proj": "attn_output",
        "ln_2": "ffn_norm",
        "mlp.c_fc": "ffn_up",
        "mlp.c_proj": "ffn_down",
    }
    for i in range(c["n_layer"]):
        for hf, gg in names.items():
            wt, b = w[f"h.{i}.{hf}.weight"], w[f"h.{i}.{hf}.bias"]
            if wt.ndim == 2:
                wt = np.ascontiguousarray(
                    wt.T
                )  # Conv1D [in, out] -> [out, in], as llama.cpp converts
            _add(wr, f"blk.{i}.{gg}.weight", wt, qtype if wt.ndim == 2 else "F32")
            wr.add_tensor(f"blk.{i}.{gg}.bias", b)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


@pytest.mark.parametrize("qtype", ["F32", "F16"])
def test_llama_gguf_matches_safetensors(make_llama, tmp_path, qtype):
    ck = make_llama()
    want = load_model(ck.path).forward(IDS)
    model = load_model(write_llama_gguf(tmp_path / "m.gguf", ck, qtype))
    assert model.format == "gguf"
    tol = 1e-5 if qtype == "F32" else 3e-2
    np.testing.assert_allclose(model.forward(IDS), want, atol=tol, rtol=tol)


def test_llama_gguf_q8_0_dequantised(make_llama, tmp_path):
    ck = make_llama(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2
    )
    want = load_model(ck.path).forward(IDS)
    got = load_model(write_llama_gguf(tmp_path / "q8.gguf", ck, "Q8_0")).forward(IDS)
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 0.05, err
    assert np.array_equal(got.argmax(-1), want.argmax(-1))
    info = get_model_info(tmp_path / "q8.gguf")
    assert (info.format, info.format_version, info.dtype) == ("gguf", "3", "Q8_0")
    assert verify_model(tmp_path / "q8.gguf").ok


def test_gpt2_gguf_matches_safetensors(make_gpt2, tmp_path):
    ck = make_gpt2()
    want = load_model(ck.path).forward(IDS)
    np.testing.assert_allclose(
        load_model(write_gpt2_gguf(tmp_path / "g.gguf", ck)).forward(IDS), want, atol=1e-5
    )


def test_bad_gguf_files(tmp_path, make_llama):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    with pytest.raises(ModelError, match="not a readable GGUF file"):
        load_model(bad)
    assert not verify_model(bad).ok
    wr = gguf.GGUFWriter(str(tmp_path / "mamba.gguf"), "mamba")
    wr.add_tensor("x", np.zeros(4, np.float32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    with pytest.raises(ModelError, match="unknown architecture 'mamba'"):
        load_model(tmp_path / "mamba.gguf")


@pytest.mark.parametrize("qtype", ["F32", "Q8_0"])
def test_verify_samples_rows_of_big_gguf_tensors(make_llama, tmp_path, qtype):
    ck = make_llama(  # Q8_0 rows are blocks of 32
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2
    )
    ck.weights["lm_head.weight"] = ck.weights["lm_head.weight"].copy()
    ck.weights["lm_head.weight"][0, :] = np.nan  # row 0 is always among the sampled rows
    with np.errstate(invalid="ignore"):  # quantising the NaN row
        path = write_llama_gguf(tmp_path / f"{qtype}.gguf", ck, qtype)
    whole = verify_model(path)
    report = verify_model(path, max_check_elements=64)
    assert report.sampled and not whole.sampled
    assert report.values_checked < whole.values_checked
    n = ck.cfg["hidden_size"]
    for r in (report, whole):
        assert f"tensor 'lm_head.weight' has {n} NaN or infinite values" in " ".join(r.problems)
