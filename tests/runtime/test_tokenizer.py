"""Byte-level and HF tokenizers, and streaming only whole characters."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.tokenizer import ByteTokenizer, HFTokenizer


def test_byte_tokenizer_roundtrip_and_special_tokens():
    tok = ByteTokenizer(bos_token_id=256)
    ids = tok.encode("héllo ✓")
    assert ids == list("héllo ✓".encode())
    assert tok.decode([256, *ids, 256]) == "héllo ✓"
    assert tok.decode([0xFF, 0x41]) == "\ufffdA"  # invalid UTF-8 is replaced, never raised


def test_byte_decoder_emits_only_complete_characters():
    dec = ByteTokenizer().decoder()
    check = "✓".encode()  # 3 bytes
    assert [dec.add(b) for b in check] == ["", "", "✓"]
    assert dec.add(256) == ""
    assert dec.add(0xE2) == ""
    assert dec.flush() == "\ufffd"


def _hf_tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(["hello world, héllo wörld ✓ " * 20], trainer)
    tok.save(str(path))
    return tok


def test_hf_tokenizer_json_is_used_for_text_prompts(make_gpt2, tmp_path):
    hf = _hf_tokenizer(tmp_path / "tok.json")
    ck = make_gpt2("withtok", vocab_size=hf.get_vocab_size(), bos_token_id=None, eos_token_id=None)
    (ck.path / "tokenizer.json").write_bytes((tmp_path / "tok.json").read_bytes())
    model = load_model(ck.path)
    assert isinstance(model.tokenizer, HFTokenizer)
    cfg = GenerationConfig(temperature=0.9, max_new_tokens=25, seed=5)
    gen = model.generate("hello wörld", cfg)
    assert gen.prompt_token_ids == hf.encode("hello wörld").ids
    assert gen.text == hf.decode(gen.token_ids)
    streamed = model.stream("hello wörld", cfg)
    pieces = [t.text for t in streamed]
    assert "".join(pieces) == gen.text


def test_hf_decoder_holds_back_a_character_split_across_tokens(tmp_path):
    hf = _hf_tokenizer(tmp_path / "tok.json")
    tok = HFTokenizer(tmp_path / "tok.json", None)
    ((mapped, _),) = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str("✓")
    ids = [hf.token_to_id(ch) for ch in mapped]  # one token per UTF-8 byte
    assert len(ids) == 3 and None not in ids
    dec = tok.decoder()
    assert [dec.add(i) for i in [hf.token_to_id("a"), *ids]] == ["a", "", "", "✓"]


@pytest.mark.parametrize("text", ["héllo ✓ wörld", "plain ascii"])
def test_hf_incremental_decoder_matches_full_decode(tmp_path, text):
    hf = _hf_tokenizer(tmp_path / "tok.json")
    tok = HFTokenizer(tmp_path / "tok.json", None)
    ids = hf.encode(text).ids
    dec = tok.decoder()
    out = "".join(dec.add(i) for i in ids) + dec.flush()
    assert out == hf.decode(ids) == text
