"""The tokenizer embedded in a GGUF file, checked against the tokenizers it was exported
from: a SentencePiece BPE model (Llama's kind) and a byte-level BPE (GPT-2's kind)."""

from __future__ import annotations

import io
import json
import logging
import random
from pathlib import Path

import gguf
import pytest
from hypothesis import given, settings, strategies as st

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.formats.gguf_tokenizer import gguf_tokenizer

from runtime.test_gguf import write_gpt2_gguf, write_llama_gguf

spm = pytest.importorskip("sentencepiece")

WORDS = (
    "the model decodes tokens while the profiler samples stacks and every span "
    "carries its trace id into logs metrics and memory reports for inference"
).split()
PROBES = [
    "the model decodes tokens",
    "  two leading spaces and  doubled  ones ",
    "unseen: naïve café 中文 🚀 \t tab",
    "",
    "a",
    "tracetrace idid",
]


def _corpus(n: int = 2000) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


def _train_spm(dummy_prefix: bool) -> object:
    buf = io.BytesIO()
    # Llama's SentencePiece settings: BPE, byte fallback, identity normalisation, a dummy
    # prefix, whitespace kept as is.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()),
        model_writer=buf,
        model_type="bpe",
        vocab_size=400,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=dummy_prefix,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


@pytest.fixture(scope="module")
def sp_model() -> object:
    return _train_spm(dummy_prefix=True)


def _spm_metadata(sp: object, space_prefix: bool | None = None) -> object:
    """What llama.cpp's converter writes for a SentencePiece model."""

    def add(wr: gguf.GGUFWriter) -> None:
        n = sp.get_piece_size()
        types = [
            2
            if sp.is_unknown(i)
            else 3
            if sp.is_control(i)
            else 6
            if sp.is_byte(i)
            else 5
            if sp.is_unused(i)
            else 1
            for i in range(n)
        ]
        wr.add_tokenizer_model("llama")
        wr.add_token_list([sp.id_to_piece(i) for i in range(n)])
        wr.add_token_scores([sp.get_score(i) for i in range(n)])
        wr.add_token_types(types)
        wr.add_unk_token_id(sp.unk_id())
        wr.add_add_bos_token(True)
        if space_prefix is not None:
            wr.add_add_space_prefix(space_prefix)

    return add


def test_llama_gguf_embedded_tokenizer_matches_sentencepiece(
    sp_model: object,
    make_llama,
    tmp_path: Path,
) -> None:
    sp = sp_model
    ck = make_llama(vocab_size=sp.get_piece_size())
    path = write_llama_gguf(tmp_path / "m.gguf", ck, tokenizer=_spm_metadata(sp))
    model = load_model(path)
    tok = model.tokenizer
    assert tok is not None and tok.add_bos and tok.kind == "gguf"
    for text in [*PROBES, *_corpus(50)]:
        ids = sp.encode(text)
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == sp.decode(ids), text
    assert tok.decode([sp.bos_id(), *sp.encode("a b"), sp.eos_id()]) == "a b"  # control skipped
    gen = model.generate("the model", GenerationConfig(max_new_tokens=3, temperature=0.0))
    assert gen.usage.input_tokens == len(sp.encode("the model")) + 1  # BOS prepended
    assert isinstance(gen.text, str)


def test_gpt2_gguf_embedded_tokenizer_matches_byte_level_bpe(make_gpt2, tmp_path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    ref = Tokenizer(models.BPE())
    ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    ref.decoder = decoders.ByteLevel()
    ref.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    model_json = json.loads(ref.to_str())["model"]
    vocab = sorted(model_json["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model_json["merges"]]
    eot = ref.token_to_id("<|endoftext|>")

    def add(wr: gguf.GGUFWriter) -> None:
        wr.add_tokenizer_model("gpt2")
        wr.add_tokenizer_pre("gpt-2")
        wr.add_token_list([t for t, _ in vocab])
        wr.add_token_merges(merges)
        wr.add_token_types([3 if i == eot else 1 for i in range(len(vocab))])

    ck = make_gpt2(vocab_size=len(vocab), bos_token_id=eot, eos_token_id=eot)
    model = load_model(write_gpt2_gguf(tmp_path / "g.gguf", ck, tokenizer=add))
    tok = model.tokenizer
    assert tok is not None and not tok.add_bos
    for text in [*PROBES, "<|endoftext|> after the special token"]:
        ids = ref.encode(text).ids
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == ref.decode(ids), text
    gen = model.generate("the model", GenerationConfig(max_new_tokens=3, temperature=0.0))
    assert gen.usage.input_tokens == len(ref.encode("the model").ids)


def test_a_tokenizer_json_beside_the_file_wins(
    sp_model: object, make_llama, tmp_path: Path
) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    byte_tok = Tokenizer(models.WordLevel({"[UNK]": 0, "x": 5}, unk_token="[UNK]"))
    byte_tok.pre_tokenizer = pre_tokenizers.Whitespace()
    byte_tok.save(str(tmp_path / "tokenizer.json"))
    ck = make_llama(vocab_size=sp_model.get_piece_size())
    model = load_model(write_llama_gguf(tmp_path / "m.gguf", ck, tokenizer=_spm_metadata(sp_model)))
    assert model.tokenizer.encode("x") == [5]


def test_unsupported_or_malformed_embedded_tokenizers_are_model_errors(
    sp_model: object,
    make_llama,
    tmp_path: Path,
) -> None:
    ck = make_llama(vocab_size=sp_model.get_piece_size())

    def bert(wr: gguf.GGUFWriter) -> None:
        wr.add_tokenizer_model("bert")
        wr.add_token_list(["a", "b"])

    with pytest.raises(ModelError, match=r"tokenizer model 'bert' is not supported.*llama, gpt2"):
        load_model(write_llama_gguf(tmp_path / "bert.gguf", ck, tokenizer=bert))

    def short_scores(wr: gguf.GGUFWriter) -> None:
        wr.add_tokenizer_model("llama")
        wr.add_token_list(["a", "b", "ab"])
        wr.add_token_scores([0.0])

    with pytest.raises(ModelError, match=r"malformed embedded tokenizer: tokenizer\.ggml\.scores"):
        load_model(write_llama_gguf(tmp_path / "scores.gguf", ck, tokenizer=short_scores))


def test_a_sentencepiece_vocabulary_without_a_space_prefix(make_llama, tmp_path: Path) -> None:
    sp = _train_spm(dummy_prefix=False)
    ck = make_llama(vocab_size=sp.get_piece_size())
    path = write_llama_gguf(tmp_path / "m.gguf", ck, tokenizer=_spm_metadata(sp, False))
    tok = load_model(path).tokenizer
    for text in [*PROBES, *_corpus(20)]:
        ids = sp.encode(text)
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == sp.decode(ids), text


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-to-character map, byte 0 first."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _bpe_fields(pre: object, extra: list[str], merges: list[str], user: tuple[str, ...] = ()):
    tokens = [*_byte_alphabet(), *extra, *user]
    fields = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.token_type": [1] * (len(tokens) - len(user)) + [4] * len(user),
    }
    if pre is not None:
        fields["tokenizer.ggml.pre"] = pre
    return tokens, fields


def _ids(tokens: list[str], *pieces: str) -> list[int]:
    return [tokens.index(p) for p in pieces]


def test_the_named_pre_tokenizer_decides_the_ids() -> None:
    """Same vocabulary and merges, different tokenizer.ggml.pre: GPT-2 keeps a run of
    digits together, Qwen2 splits every digit, Llama 3 groups them by three."""
    tokens, fields = _bpe_fields(None, ["12", "123", "Ġ12"], ["1 2", "12 3", "Ġ 12"])
    got = {}
    for pre in ("gpt-2", "qwen2", "llama-bpe"):
        tok = gguf_tokenizer(Path("t.gguf"), {**fields, "tokenizer.ggml.pre": pre}.get, None)
        got[pre] = tok.encode("1234 12")
        assert tok.decode(got[pre]) == "1234 12"
    assert got["gpt-2"] == _ids(tokens, "123", "4", "Ġ12")
    assert got["qwen2"] == _ids(tokens, "1", "2", "3", "4", "Ġ", "1", "2")
    assert got["llama-bpe"] == _ids(tokens, "123", "4", "Ġ", "12")


def test_llama3_takes_a_whole_vocabulary_word_without_merging() -> None:
    # "abc" is in the vocabulary but no merge reaches it; llama.cpp's ignore_merges
    # (Llama 3) takes it whole, GPT-2 merges what the merges allow.
    tokens, fields = _bpe_fields(None, ["ab", "abc"], ["a b"])
    gpt2 = gguf_tokenizer(Path("t.gguf"), {**fields, "tokenizer.ggml.pre": "gpt-2"}.get, None)
    llama3 = gguf_tokenizer(Path("t.gguf"), {**fields, "tokenizer.ggml.pre": "llama3"}.get, None)
    assert gpt2.encode("abc") == _ids(tokens, "ab", "c")
    assert llama3.encode("abc") == _ids(tokens, "abc")
    assert not gpt2.add_bos and llama3.add_bos  # llama.cpp's default for Llama 3


def test_user_defined_tokens_are_matched_whole_before_splitting() -> None:
    # MPT's vocabulary has runs of spaces as user-defined tokens (type 4).
    tokens, fields = _bpe_fields("mpt", ["Ġb"], ["Ġ b"], user=("  ", "<|turn|>"))
    tok = gguf_tokenizer(Path("t.gguf"), fields.get, None)
    ids = tok.encode("a   b<|turn|>")
    assert ids == _ids(tokens, "a", "  ", "Ġb", "<|turn|>")
    assert tok.decode(ids) == "a   b<|turn|>"  # decoded as text, not skipped


def test_unknown_or_unbuilt_pre_tokenizers_are_refused_by_name() -> None:
    _, fields = _bpe_fields(None, [], [])
    for pre, shown in [("no-such-pre", "'no-such-pre'"), ("gemma4", "'gemma4'"), (7, "7")]:
        with pytest.raises(
            ModelError,
            match=rf"t\.gguf: .*pre-tokenizer {shown} \(tokenizer\.ggml\.pre\) is not supported",
        ):
            gguf_tokenizer(Path("t.gguf"), {**fields, "tokenizer.ggml.pre": pre}.get, None)


def test_a_vocabulary_naming_no_pre_tokenizer_gets_llama_cpps_default_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens, fields = _bpe_fields(None, ["Ġ("], ["Ġ ("])
    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        tok = gguf_tokenizer(Path("t.gguf"), fields.get, None)
    (warned,) = [r.getMessage() for r in caplog.records if r.name == "hyperion.model"]
    assert "t.gguf: the embedded tokenizer names no pre-tokenizer" in warned
    # llama.cpp's default isolates punctuation runs first; GPT-2 would give "Ġ(".
    assert tok.encode(" (") == _ids(tokens, "Ġ", "(")


def test_a_gguf_file_without_tokenizer_data_still_loads(make_llama, tmp_path: Path) -> None:
    model = load_model(write_llama_gguf(tmp_path / "bare.gguf", make_llama()))
    assert model.tokenizer is None


_text = st.text(max_size=12)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "tokenizer.ggml.model": st.one_of(
            st.sampled_from(["llama", "gpt2", "bert"]), _text, st.integers()
        ),
        "tokenizer.ggml.tokens": st.one_of(
            st.lists(_text, max_size=40), st.lists(st.integers(), max_size=3), _text
        ),
        "tokenizer.ggml.scores": st.one_of(st.lists(st.floats(), max_size=40), _text),
        "tokenizer.ggml.token_type": st.lists(st.integers(-3, 9), max_size=40),
        "tokenizer.ggml.merges": st.one_of(st.lists(_text, max_size=40), st.integers()),
        "tokenizer.ggml.unknown_token_id": st.one_of(st.integers(-5, 50), _text),
        "tokenizer.ggml.add_bos_token": st.one_of(st.booleans(), st.integers()),
        "tokenizer.ggml.pre": st.one_of(
            st.sampled_from(["gpt-2", "llama-bpe", "qwen2", "mpt", "gemma4"]), _text, st.integers()
        ),
        "tokenizer.ggml.add_space_prefix": st.one_of(st.booleans(), st.integers()),
    },
)


@settings(max_examples=300, deadline=None)
@given(fields=_fields)
def test_fuzzed_tokenizer_metadata_gives_a_tokenizer_none_or_a_model_error(fields: dict) -> None:
    try:
        tok = gguf_tokenizer(Path("fuzz.gguf"), fields.get, None)
    except ModelError as exc:
        assert "fuzz.gguf" in str(exc)
        return
    if tok is not None:
        tok.decode(tok.encode("the model 中文"))
