"""The GGUF-embedded tokenizer against llama.cpp's own tokenizer tests: every vocabulary
file of llama-cpp-python 0.3.36 either passes every case or is refused by name, and our
pre-tokenizer table is the one in llama.cpp's source."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.formats import _gguf_pretok
from hyperion_otel.runtime.formats.gguf_tokenizer import gguf_tokenizer

from runtime.llama_vocab import cache_dir, cpp_names, cpp_splits, fetch, read_cases

# Reading a 256k-token vocabulary with the pure-Python GGUF reader takes minutes on a busy
# 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Vocabulary file -> number of distinct cases in its .inp/.out files.
WITH_CASES = {
    "command-r": 46,
    "deepseek-coder": 46,
    "deepseek-llm": 46,
    "falcon": 46,
    "gpt-2": 46,
    "llama-bpe": 46,
    "llama-spm": 46,
    "mpt": 46,
    "phi-3": 46,
    "qwen2": 46,
    "qwen35": 50,
    "refact": 46,
    "starcoder": 46,
}
# Vocabulary file -> the tokenizer model it is refused for.
REFUSED = {"bert-bge": "bert", "gemma-4": "gemma4", "nomic-bert-moe": "t5"}
# Files without cases; the first two name no pre-tokenizer.
WITHOUT_CASES = {"aquila": True, "gpt-neox": True, "baichuan": False}


@pytest.fixture(scope="module")
def vocab_dir() -> Path:
    try:
        return fetch()
    except Exception as exc:
        reason = (
            f"llama.cpp's vocabulary files are not in {cache_dir()} and could not be fetched "
            f"({exc}); run `python tests/runtime/llama_vocab.py` with network access"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _open(path: Path) -> Any:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    return gguf_tokenizer(path, field, field("tokenizer.ggml.bos_token_id"))


def test_the_test_set_is_the_one_these_expectations_describe(vocab_dir: Path) -> None:
    found = {p.name[len("ggml-vocab-") : -len(".gguf")] for p in vocab_dir.glob("models/*.gguf")}
    assert found == {*WITH_CASES, *REFUSED, *WITHOUT_CASES}
    with_cases = {
        p.name[len("ggml-vocab-") : -len(".gguf.inp")] for p in vocab_dir.glob("models/*.inp")
    }
    assert with_cases == {*WITH_CASES, "bert-bge", "gemma-4"}


@pytest.mark.parametrize("name", sorted(WITH_CASES))
def test_every_case_of_a_vocabulary_file_gives_llama_cpps_ids(vocab_dir: Path, name: str) -> None:
    path = vocab_dir / "models" / f"ggml-vocab-{name}.gguf"
    cases = read_cases(path)
    assert len(cases) == WITH_CASES[name]
    tok = _open(path)
    wrong = {text: (got, ids) for text, ids in cases.items() if (got := tok.encode(text)) != ids}
    assert not wrong, f"{len(wrong)}/{len(cases)} cases differ: {wrong}"
    assert all(tok.decode(ids) == text for text, ids in cases.items())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_unsupported_tokenizer_model_is_refused_by_name(vocab_dir: Path, name: str) -> None:
    with pytest.raises(ModelError, match=f"tokenizer model '{REFUSED[name]}' is not supported"):
        _open(vocab_dir / "models" / f"ggml-vocab-{name}.gguf")


@pytest.mark.parametrize("name", sorted(WITHOUT_CASES))
def test_files_without_cases_load_and_warn_when_they_name_no_pre_tokenizer(
    vocab_dir: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hyperion.model"):
        tok = _open(vocab_dir / "models" / f"ggml-vocab-{name}.gguf")
    assert tok.decode(tok.encode("Hello world")) == "Hello world"
    warned = [r for r in caplog.records if "names no pre-tokenizer" in r.getMessage()]
    assert len(warned) == (1 if WITHOUT_CASES[name] else 0)


# Where llama.cpp runs hand-written code instead of its regex, we carry the regex that
# code implements.
_HAND_CODED = {("tiny_aya", 0), ("kimi_k2", 0), ("afmoe", 0)}


def test_the_pre_tokenizer_table_is_llama_cpps(vocab_dir: Path) -> None:
    source = (vocab_dir / "src" / "llama-vocab.cpp").read_text(encoding="utf-8")
    names = cpp_names(source)
    assert {
        n: (k, bool(f & 1), bool(f & 2), bool(f & 4)) for n, (k, f) in _gguf_pretok._NAMES.items()
    } == names
    for name, (kind, *_flags) in names.items():
        assert (name in _gguf_pretok.PRE_TOKENIZERS) == (kind not in _gguf_pretok.UNSUPPORTED_KINDS)
    splits = cpp_splits(source)
    assert set(splits) == set(_gguf_pretok._SPLITS) | set(_gguf_pretok.UNSUPPORTED_KINDS)
    for kind, mine in _gguf_pretok._SPLITS.items():
        # llama.cpp's literals hold CR/LF characters where ours hold the \r \n escapes.
        theirs = [e.replace("\r", r"\r").replace("\n", r"\n") for e in splits[kind]]
        assert len(mine) == len(theirs), kind
        for i, (ours, cpp) in enumerate(zip(mine, theirs, strict=True)):
            assert (ours == cpp) != ((kind, i) in _HAND_CODED), (kind, i)
