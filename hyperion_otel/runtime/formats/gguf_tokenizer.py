"""The tokenizer a GGUF file carries in its ``tokenizer.ggml.*`` metadata, built with the
``tokenizers`` library the way llama.cpp tokenizes it.

Two tokenizer models cover the architectures we run:

- ``llama``: SentencePiece BPE. The file holds pieces, scores and token types but no
  merges; merges are rebuilt from the scores (a piece splits into two known pieces; the
  higher the merged piece's score, the earlier the merge), which reproduces
  SentencePiece's greedy highest-score merging. Spaces become ``▁``, with one prepended
  unless ``tokenizer.ggml.add_space_prefix`` is false; unknown bytes fall back to the
  ``<0xNN>`` byte pieces.
- ``gpt2``: byte-level BPE with the merges stored in ``tokenizer.ggml.merges``. The text
  is first split by the pre-tokenizer ``tokenizer.ggml.pre`` names (llama.cpp's table, in
  ``_gguf_pretok``); a name llama.cpp does not know, or one not built here, is refused.
  A file without the key gets llama.cpp's ``default`` split, with a warning.

Control and unknown-type tokens (types 3 and 2) are special: matched whole in the text,
skipped when decoding. User-defined tokens (type 4; MPT's runs of spaces, Command-R's turn
markers) are matched whole in the text before it is split, and decoded as text.
Whether BOS is prepended follows ``tokenizer.ggml.add_bos_token``, else llama.cpp's
default (yes for ``llama``, for ``gpt2`` only with the pre-tokenizers llama.cpp says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.formats._gguf_pretok import PRE_TOKENIZERS, PreTokenizer
from hyperion_otel.runtime.tokenizer import HFTokenizer, import_tokenizers

__all__ = ["SUPPORTED_MODELS", "gguf_tokenizer"]

_log = logging.getLogger("hyperion.model")

SUPPORTED_MODELS = ("llama", "gpt2")
# llama.cpp's LLAMA_TOKEN_TYPE_*: these are matched whole in the text before splitting.
_UNKNOWN, _CONTROL, _USER_DEFINED = 2, 3, 4
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


def _build_llama(tokens: list[str], field: Callable[[str], Any]) -> Any:
    from tokenizers import Tokenizer, decoders, normalizers
    from tokenizers.models import BPE

    scores = field("tokenizer.ggml.scores")
    if not isinstance(scores, list) or len(scores) != len(tokens):
        raise ValueError("tokenizer.ggml.scores missing or not one per token")
    unk_id = field("tokenizer.ggml.unknown_token_id")
    unk = tokens[unk_id] if isinstance(unk_id, int) and 0 <= unk_id < len(tokens) else None
    space_prefix = field("tokenizer.ggml.add_space_prefix")
    if not isinstance(space_prefix, bool):
        space_prefix = True  # llama.cpp's default for SentencePiece vocabularies
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = _spm_merges(tokens, [float(s) for s in scores])
    tok = Tokenizer(BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    replace = normalizers.Replace(" ", _SPACE)
    # Prepend applies to every stretch of text between special tokens, as llama.cpp
    # prefixes each text fragment that follows one.
    tok.normalizer = (
        normalizers.Sequence([normalizers.Prepend(_SPACE), replace]) if space_prefix else replace
    )
    steps = [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if space_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    return tok


def _merge_pairs(merges: list[Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for m in merges:
        # llama.cpp splits at the first space after the first character.
        cut = m.find(" ", 1) if isinstance(m, str) else -1
        if cut < 0:
            raise ValueError(f"merge {m!r} is not two pieces separated by a space")
        pairs.append((m[:cut], m[cut + 1 :]))
    return pairs


def _build_bpe(tokens: list[str], field: Callable[[str], Any], pre: PreTokenizer) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    merges = field("tokenizer.ggml.merges")
    if not isinstance(merges, list):
        raise ValueError("tokenizer.ggml.merges missing")
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(BPE(vocab, _merge_pairs(merges), ignore_merges=pre.ignore_merges))
    # llama.cpp splits with each regex in turn, keeps the text between matches as pieces,
    # then maps each piece's bytes to GPT-2's byte alphabet.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            *(pre_tokenizers.Split(Regex(rx), "isolated") for rx in pre.splits),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def _pre_tokenizer(path: Path, name: Any) -> PreTokenizer:
    if name is None:
        _log.warning(
            "%s: the embedded tokenizer names no pre-tokenizer (tokenizer.ggml.pre); "
            "splitting text with llama.cpp's 'default' rules, as llama.cpp does, so token "
            "ids may differ from the model's own tokenizer",
            path,
            extra={"path": str(path)},
        )
        return PRE_TOKENIZERS["default"]
    pre = PRE_TOKENIZERS.get(name) if isinstance(name, str) else None
    if pre is None:
        raise ModelError(
            f"{path}: embedded tokenizer's pre-tokenizer {name!r} (tokenizer.ggml.pre) is not "
            f"supported (expected one of the {len(PRE_TOKENIZERS)} llama.cpp names built "
            "here, such as 'llama-bpe', 'qwen2', 'gpt-2'); place a tokenizer.json beside "
            "the file or pass token ids",
            path=str(path),
        )
    return pre


def _added_tokens(
    added_token: Any, tokens: list[str], types: list[Any]
) -> tuple[list[Any], list[Any]]:
    """(special, user-defined) tokens, both matched whole in the text before it is split."""
    special, user = [], []
    for text, kind in zip(tokens, types, strict=True):
        if kind in (_CONTROL, _UNKNOWN):
            special.append(added_token(text, normalized=False, special=True))
        elif kind == _USER_DEFINED:
            user.append(added_token(text, normalized=False, special=False))
    return special, user


def gguf_tokenizer(
    path: Path, field: Callable[[str], Any], bos_token_id: int | None
) -> HFTokenizer | None:
    """The embedded tokenizer of the GGUF file at ``path`` (``field(key)`` reads its
    metadata), or ``None`` when the file carries none. Raises ``ModelError`` for an
    unsupported tokenizer model or pre-tokenizer, or malformed tokenizer data."""
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
    pre = _pre_tokenizer(path, field("tokenizer.ggml.pre")) if model == "gpt2" else None
    added_token = import_tokenizers(path, "the embedded tokenizer").AddedToken
    types = field("tokenizer.ggml.token_type")
    try:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("tokenizer.ggml.tokens is not a list of strings")
        if types is not None and (not isinstance(types, list) or len(types) != len(tokens)):
            raise ValueError("tokenizer.ggml.token_type is not one type per token")
        lib = _build_llama(tokens, field) if pre is None else _build_bpe(tokens, field, pre)
        if types is not None:
            special, user = _added_tokens(added_token, tokens, types)
            lib.add_special_tokens(special)
            lib.add_tokens(user)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises plain Exception
        raise ModelError(f"{path}: malformed embedded tokenizer: {exc}", path=str(path)) from None
    add_bos = field("tokenizer.ggml.add_bos_token")
    if not isinstance(add_bos, bool):
        add_bos = pre.add_bos if pre is not None else True
    if pre is not None and not pre.has_bos:
        bos_token_id = None
    return HFTokenizer.from_library(lib, bos_token_id, add_bos=add_bos)
