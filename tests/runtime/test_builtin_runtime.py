"""``load_model("builtin:tiny")``: the model shipped in the package, through the runtime."""

from __future__ import annotations

import pytest

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import GenerationConfig, get_model_info, load_model, verify_model


def test_builtin_tiny_loads_and_writes_text():
    model = load_model("builtin:tiny")
    assert (
        model.name == "builtin:tiny"
        and model.tokenizer is not None
        and model.tokenizer.kind == "byte"
    )
    gen = model.generate("Return the ", GenerationConfig(temperature=0.0, max_new_tokens=40))
    assert gen.usage.input_tokens == len("Return the ") + 1  # BOS (= end-of-text) first
    text = gen.text
    assert (
        text
        and sum(c.isascii() and (c.isprintable() or c.isspace()) for c in text) / len(text) > 0.95
    )
    assert sum(c.isalpha() for c in text) / len(text) > 0.5  # words, not noise
    assert (
        model.generate("Return the ", GenerationConfig(temperature=0.0, max_new_tokens=40)).text
        == text
    )


def test_builtin_info_and_verify():
    info = get_model_info("builtin:tiny")
    assert (info.architecture, info.vocab_size, info.tokenizer) == ("LlamaForCausalLM", 257, "byte")
    assert info.size_bytes < 8 * 2**20
    assert verify_model("builtin:tiny").ok


def test_unknown_builtin_name():
    with pytest.raises(ModelError, match=r"unknown built-in model 'huge' \(available: tiny\)"):
        load_model("builtin:huge")
    assert not verify_model("builtin:huge").ok
