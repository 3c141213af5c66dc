"""Checkpoints that transformers loads load here: special-token metadata the forward pass
does not need (a BOS or stop id outside the vocabulary, as ``GPT2Config(vocab_size=311)``
keeps GPT-2's 50256) is left out with one warning each, never a load failure."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from hyperion_otel.runtime import GenerationConfig, load_model, verify_model


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hyperion.model" and r.levelno == logging.WARNING
    ]


def test_special_ids_outside_the_vocabulary_are_ignored_with_one_warning_each(
    make_gpt2, caplog: pytest.LogCaptureFixture
) -> None:
    ck = make_gpt2(bos_token_id=50256, eos_token_id=50256)  # plain JSON, no transformers
    vocab = ck.cfg["vocab_size"]
    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        model = load_model(ck.path)
    assert model.config.bos_token_id is None
    assert model.config.eos_token_ids == ()
    warned = _warnings(caplog)
    assert len(warned) == 2
    assert f"'bos_token_id' = 50256: token ids must be in [0, {vocab}); ignored" in warned[0]
    assert f"'eos_token_id' = 50256: token ids must be in [0, {vocab}); ignored" in warned[1]
    # The stop token that cannot occur stops nothing: generation runs to its budget.
    gen = model.generate([1, 2, 3], GenerationConfig(max_new_tokens=5, temperature=0.0))
    assert len(gen.token_ids) == 5
    report = verify_model(ck.path)
    assert report.ok and report.problems == []
    assert report.warnings == warned


def test_a_stop_list_keeps_its_ids_inside_the_vocabulary(
    make_llama, caplog: pytest.LogCaptureFixture
) -> None:
    ck = make_llama(eos_token_id=[2, 128001, "eot"])
    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        model = load_model(ck.path)
    assert model.config.eos_token_ids == (2,)
    (warned,) = _warnings(caplog)
    assert "'eos_token_id' = [2, 128001, 'eot']" in warned and "kept [2]" in warned
    assert verify_model(ck.path).warnings == [warned]


def test_a_valid_config_loads_without_warnings(make_gpt2, caplog: pytest.LogCaptureFixture) -> None:
    ck = make_gpt2()
    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        model = load_model(ck.path)
    assert model.config.eos_token_ids == (ck.cfg["eos_token_id"],)
    assert _warnings(caplog) == []
    assert verify_model(ck.path).warnings == []


def _transformers() -> object:
    # The dev extra installs both (torch 2.13.0's CPU wheel): a missing one is a failure.
    import torch  # noqa: F401
    import transformers

    return transformers


@pytest.mark.slow  # importing torch and transformers takes tens of seconds here
def test_a_gpt2_saved_by_transformers_with_its_default_special_ids_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tf = _transformers()
    import torch

    torch.manual_seed(0)
    config = tf.GPT2Config(vocab_size=311, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    assert (config.bos_token_id, config.eos_token_id) == (50256, 50256)
    tf.GPT2LMHeadModel(config).eval().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["vocab_size"], saved["bos_token_id"], saved["eos_token_id"]) == (
        311,
        50256,
        50256,
    )

    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        model = load_model(tmp_path)
    assert len(_warnings(caplog)) == 2
    ids = [5, 17, 300, 42, 0, 310]
    with torch.no_grad():
        ref = tf.GPT2LMHeadModel.from_pretrained(tmp_path).eval()(torch.tensor([ids])).logits[0]
    np.testing.assert_allclose(model.forward(ids), ref.numpy(), atol=1e-4, rtol=1e-4)
    report = verify_model(tmp_path)
    assert report.ok and len(report.warnings) == 2
