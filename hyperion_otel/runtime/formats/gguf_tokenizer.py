"""The tokenizer a GGUF file carries in its ``tokenizer.ggml.*`` metadata, built with the
``tokenizers`` library.

Two tokenizer models cover the architectures we run:

- ``llama``: SentencePiece BPE. The file holds pieces, scores and token types but no
  merges; merges are rebuilt from the scores (a piece splits into two known pieces; the
  higher the merged piece's score, the earlier the merge), which reproduces
  SentencePiece's greedy highest-score merging. Spaces become ``▁`` with one prepended,
  unknown bytes fall back to the ``<0xNN>`` byte pieces.
- ``gpt2``: byte-level BPE with the merges stored in ``tokenizer.ggml.merges``.

Control tokens (type 3) are special: never produced from text, skipped when decoding.
Whether BOS is prepended follows ``tokenizer.ggml.add_bos_token`` (default: yes for
``llama``, no for ``gpt2``, as llama.cpp does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.tokenizer import HFTokenizer, import_tokenizers

__all__ = ["SUPPORTED_MODELS", "gguf_tokenizer"]

SUPPORTED_MODELS = ("llama", "gpt2")
_CONTROL = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
_SPACE = "\u2581"  # SentencePiece's "▁"
# SentencePiece pieces are at most 16 characters by default; longer ones are not split
# into merges, so a hostile file cannot make the quadratic split loop explode.
_MAX_MERGED_PIECE = 64


def _spm_merges(tokens: Sequence[str], scores: Sequence[float]) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's score order: for each piece, every split
    into two known pieces, ordered by the merged piece's score (highest first)."""
    vocab = {t: i for i, t in enumerate(tokens)}
    ranked: list[tuple[float, int, int, str, str]] = []
    for piece, pid in vocab.items():
        if len(piece) > _MAX_MERGED_PIECE:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            lid, rid = vocab.get(left), vocab.get(right)
            if lid is not None and rid is not None:
                # Equal scores are ordered by the parts' ids, so the order is stable.
                ranked.append((-float(scores[pid]), lid, rid, left, right))
    ranked.sort()
    return [(left, right) for _, _, _, left, right in ranked]


def _build_llama(tokens: list[str], scores: list[float], unk: str | None) -> Any:
    from tokenizers import Tokenizer, decoders, normalizers
    from tokenizers.models import BPE

    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(
        BPE(vocab, _spm_merges(tokens, scores), unk_token=unk, fuse_unk=True, byte_fallback=True)
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend(_SPACE), normalizers.Replace(" ", _SPACE)]
    )
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace(_SPACE, " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    return tok


def _build_gpt2(tokens: list[str], merges: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    pairs: list[tuple[str, str]] = []
    for m in merges:
        left, sep, right = m.partition(" ")
        if not sep:
            raise ValueError(f"merge {m!r} is not two pieces separated by a space")
        pairs.append((left, right))
    tok = Tokenizer(BPE({t: i for i, t in enumerate(tokens)}, pairs))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def gguf_tokenizer(
    path: Path, field: Callable[[str], Any], bos_token_id: int | None
) -> HFTokenizer | None:
    """The embedded tokenizer of the GGUF file at ``path`` (``field(key)`` reads its
    metadata), or ``None`` when the file carries none. Raises ``ModelError`` for an
    unsupported tokenizer model or malformed tokenizer data."""
    model = field("tokenizer.ggml.model")
    tokens = field("tokenizer.ggml.tokens")
    if model is None or tokens is None:
        return None
    if model not in SUPPORTED_MODELS:
        raise ModelError(
            f"{path}: embedded tokenizer model {model!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_MODELS)}); place a tokenizer.json beside "
            "the file or pass token ids",
            path=str(path),
        )
    added_token = import_tokenizers(path, "the embedded tokenizer").AddedToken
    types = field("tokenizer.ggml.token_type")
    try:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("tokenizer.ggml.tokens is not a list of strings")
        if types is not None and len(types) != len(tokens):
            raise ValueError(f"{len(types)} token types for {len(tokens)} tokens")
        if model == "llama":
            scores = field("tokenizer.ggml.scores")
            if not isinstance(scores, list) or len(scores) != len(tokens):
                raise ValueError("tokenizer.ggml.scores missing or not one per token")
            unk_id = field("tokenizer.ggml.unknown_token_id")
            unk = tokens[unk_id] if isinstance(unk_id, int) and 0 <= unk_id < len(tokens) else None
            lib = _build_llama(tokens, [float(s) for s in scores], unk)
        else:
            merges = field("tokenizer.ggml.merges")
            if not isinstance(merges, list):
                raise ValueError("tokenizer.ggml.merges missing")
            lib = _build_gpt2(tokens, merges)
        if types is not None:
            lib.add_special_tokens(
                [
                    added_token(tokens[i], normalized=False, special=True)
                    for i, kind in enumerate(types)
                    if kind == _CONTROL
                ]
            )
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises plain Exception
        raise ModelError(f"{path}: malformed embedded tokenizer: {exc}", path=str(path)) from None
    add_bos = field("tokenizer.ggml.add_bos_token")
    return HFTokenizer.from_library(
        lib, bos_token_id, add_bos=bool(add_bos) if add_bos is not None else model == "llama"
    )
