"""Every bad-input case: ModelError naming the path and the exact problem; verify reports it."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import get_model_info, load_model, verify_model

from runtime.checkpoints import write_raw_safetensors


def _expect(path, pattern, target=None):
    with pytest.raises(ModelError, match=pattern) as info:
        load_model(target if target is not None else path)
    assert str(path) in info.value.message
    report = verify_model(target if target is not None else path)
    assert not report.ok
    assert any(__import__("re").search(pattern, p) for p in report.problems), report.problems
    return info.value


def test_missing_path_and_directory_without_config(tmp_path):
    _expect(tmp_path / "nope", "no such file or directory")
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", "no config.json")
    (tmp_path / "weights.bin").write_bytes(b"x")
    _expect(tmp_path / "weights.bin", "not a checkpoint directory")


def test_pickled_weights_are_never_loaded(gpt2):
    (gpt2.path / "model.safetensors").rename(gpt2.path / "pytorch_model.bin")
    _expect(gpt2.path, r"no model.safetensors.*pytorch_model.bin.*never loaded")


def test_truncated_and_oversized_headers(gpt2):
    f = gpt2.path / "model.safetensors"
    f.write_bytes(b"\x10\x00")
    _expect(f, r"truncated safetensors file", gpt2.path)
    f.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    _expect(f, r"header length 1099511627776 exceeds the limit", gpt2.path)
    f.write_bytes(struct.pack("<Q", 500) + b'{"a": 1}')
    _expect(f, r"truncated safetensors header: declares 500 bytes", gpt2.path)
    f.write_bytes(struct.pack("<Q", 5) + b"{nope")
    _expect(f, r"not valid JSON", gpt2.path)


def _rewrite_header(path, mutate):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    mutate(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_offsets_past_end_unknown_dtype_and_size_mismatch(gpt2):
    f = gpt2.path / "model.safetensors"
    original = f.read_bytes()

    def past_end(h):
        h["wte.weight"]["data_offsets"][1] += 10**9

    _rewrite_header(f, past_end)
    _expect(f, r"'wte.weight': data_offsets .* run past the end of the file", gpt2.path)
    f.write_bytes(original)
    _rewrite_header(f, lambda h: h["wte.weight"].update(dtype="F17"))
    _expect(f, r"'wte.weight': unknown dtype 'F17'", gpt2.path)
    f.write_bytes(original)
    _rewrite_header(f, lambda h: h["wte.weight"].update(shape=[61, 17]))
    _expect(f, r"'wte.weight': shape \[61, 17\] x F32 needs", gpt2.path)


def test_missing_tensor_wrong_shape_and_integer_dtype(make_gpt2, make_llama, tmp_path):
    ck = make_gpt2()
    w = dict(ck.weights)
    del w["h.1.mlp.c_fc.bias"]
    w["h.0.attn.c_proj.weight"] = np.zeros((16, 15), np.float32)
    write_raw_safetensors(ck.path / "model.safetensors", {k: ("F32", v) for k, v in w.items()})
    err = _expect(
        ck.path, r"missing tensor 'h.1.mlp.c_fc.bias'|has shape \[16, 15\], expected \[16, 16\]"
    )
    assert len(err.details["problems"]) == 2
    report = verify_model(ck.path)
    assert any("missing tensor 'h.1.mlp.c_fc.bias'" in p for p in report.problems)
    assert any(
        "'h.0.attn.c_proj.weight' has shape [16, 15], expected [16, 16]" in p
        for p in report.problems
    )
    lk = make_llama()
    w = {k: ("F32", v) for k, v in lk.weights.items()}
    w["model.norm.weight"] = ("I32", np.ones(24, np.int32))
    write_raw_safetensors(lk.path / "model.safetensors", w)
    _expect(lk.path, r"'model.norm.weight' has dtype I32")


def test_unknown_architecture_and_absurd_sizes(make_llama):
    ck = make_llama()
    cfg_path = ck.path / "config.json"
    cases = [
        ({"architectures": ["MambaForCausalLM"]}, r"unknown architecture \['MambaForCausalLM'\]"),
        ({"num_hidden_layers": 10**9}, r"'num_hidden_layers' = 1000000000 is out of range"),
        ({"vocab_size": 10**12}, r"'vocab_size' = 1000000000000 is out of range"),
        ({"hidden_size": 10**7}, r"'hidden_size' = 10000000 is out of range"),
        ({"hidden_size": "big"}, r"'hidden_size' must be an integer"),
        ({"num_key_value_heads": 4}, r"not a multiple of num_key_value_heads 4"),
        ({"rms_norm_eps": -1}, r"'rms_norm_eps' = -1 must be > 0"),
        (
            {"rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
            r"rope scaling type 'yarn' is not supported",
        ),
    ]
    for change, pattern in cases:
        cfg_path.write_text(json.dumps({**ck.cfg, **change}))
        _expect(cfg_path, pattern, ck.path)
    cfg_path.write_text("[1, 2]")
    _expect(cfg_path, "must hold a JSON object", ck.path)


def test_huge_config_sizes_fail_before_any_allocation(make_llama):
    # Within each per-field limit but 2**40 parameters in all.
    ck = make_llama()
    (ck.path / "config.json").write_text(
        json.dumps(
            {
                **ck.cfg,
                "num_hidden_layers": 1024,
                "hidden_size": 65536,
                "num_attention_heads": 512,
                "num_key_value_heads": 512,
                "intermediate_size": 65536,
            }
        )
    )
    _expect(ck.path / "config.json", r"parameters, more than the limit", ck.path)


def test_nan_and_inf_weights(make_gpt2):
    ck = make_gpt2()
    w = dict(ck.weights)
    w["h.1.mlp.c_proj.weight"] = w["h.1.mlp.c_proj.weight"].copy()
    w["h.1.mlp.c_proj.weight"][3, 2] = np.nan
    w["ln_f.bias"] = np.full(16, np.inf, np.float32)
    write_raw_safetensors(ck.path / "model.safetensors", {k: ("F32", v) for k, v in w.items()})
    _expect(ck.path, r"'h.1.mlp.c_proj.weight' has 1 NaN or infinite values")
    report = verify_model(ck.path)
    assert any("'ln_f.bias' has 16 NaN" in p for p in report.problems)


def test_index_pointing_outside_the_directory(make_gpt2, tmp_path):
    ck = make_gpt2(shards=2)
    index = ck.path / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    name = next(iter(data["weight_map"]))
    data["weight_map"][name] = "../evil.safetensors"
    index.write_text(json.dumps(data))
    _expect(
        index, r"weight_map points outside the checkpoint directory: '../evil.safetensors'", ck.path
    )
    data["weight_map"][name] = "/etc/passwd"
    index.write_text(json.dumps(data))
    _expect(index, r"outside the checkpoint directory", ck.path)


def test_index_naming_wrong_shard(make_gpt2):
    ck = make_gpt2(shards=2)
    index = ck.path / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    files = sorted(set(data["weight_map"].values()))
    name = next(n for n, f in data["weight_map"].items() if f == files[0])
    data["weight_map"][name] = files[1]
    index.write_text(json.dumps(data))
    _expect(index, rf"weight_map says tensor '{name}' is in '{files[1]}'", ck.path)


def test_verify_ok_and_info(make_llama, make_gpt2):
    ck = make_llama(dtype="BF16")
    report = verify_model(ck.path)
    assert report.ok and report.problems == [] and report.format == "safetensors"
    assert report.tensors_checked == 3 + 9 * 2
    info = get_model_info(ck.path)
    assert info.architecture == "LlamaForCausalLM" and info.format == "safetensors"
    assert (info.layers, info.hidden_size, info.heads, info.kv_heads) == (2, 24, 6, 2)
    assert (info.vocab_size, info.context_length, info.dtype) == (67, 48, "BF16")
    assert info.parameters == sum(v.size for v in ck.weights.values())
    assert info.size_bytes > 2 * info.parameters
    g = get_model_info(make_gpt2(dtype="F16").path)
    assert g.architecture == "GPT2LMHeadModel" and g.dtype == "F16"
    with pytest.raises(ModelError):
        get_model_info(ck.path / "missing")


def test_verify_samples_large_tensors(make_gpt2):
    ck = make_gpt2()
    w = dict(ck.weights)
    w["wte.weight"] = w["wte.weight"].copy()
    w["wte.weight"][0, 0] = np.inf  # row 0 is always among the sampled rows
    write_raw_safetensors(ck.path / "model.safetensors", {k: ("F32", v) for k, v in w.items()})
    report = verify_model(ck.path, max_check_elements=64)
    assert report.sampled
    assert report.values_checked < sum(v.size for v in w.values())
    assert any(
        "'wte.weight' has 1 NaN or infinite values in the sampled rows" in p
        for p in report.problems
    )


def test_a_path_of_the_wrong_type_is_an_invalid_input_error() -> None:
    from hyperion_otel import InvalidInputError, load_model

    for bad in (None, 123):
        with pytest.raises(InvalidInputError, match=r"model path must be a str or os\.PathLike"):
            load_model(bad)  # type: ignore[arg-type]
