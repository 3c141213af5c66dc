"""Tiny random-init transformers models and a word-level tokenizer, built here (no hub)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

PAD, BOS, EOS = 0, 1, 2
WORDS = "the a cat dog sat ran on mat and then slept big small red blue fast".split()
VOCAB = 64


@dataclass
class Tiny:
    path: Path
    model: Any  # the PreTrainedModel loaded back from ``path``


def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"<pad>": PAD, "<s>": BOS, "</s>": EOS, "<unk>": 3}
    for w in WORDS:
        vocab[w] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def save_tiny(root: Path, name: str, model: Any, tokenizer: bool) -> Tiny:
    path = root / name
    model.save_pretrained(path)
    if tokenizer:
        word_tokenizer().save_pretrained(path)
    return Tiny(path, AutoModelForCausalLM.from_pretrained(path).eval())
