"""Tokenizers: byte-level (the built-in model) and HF ``tokenizer.json`` via ``tokenizers``.

Streaming needs text only when the tokens so far form complete characters; each
tokenizer hands out an incremental decoder that holds back incomplete UTF-8.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from hyperion_otel.errors import ModelError

__all__ = ["ByteTokenizer", "HFTokenizer", "IncrementalDecoder", "Tokenizer", "load_tokenizer"]

TOKENIZER_FILE = "tokenizer.json"


class IncrementalDecoder(Protocol):
    def add(self, token_id: int) -> str:
        """Text completed by this token ('' while a character is incomplete)."""
        ...

    def flush(self) -> str:
        """Whatever is still held back (incomplete bytes become U+FFFD)."""
        ...


class Tokenizer(Protocol):
    kind: str
    bos_token_id: int | None
    add_bos: bool

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def decoder(self) -> IncrementalDecoder: ...


class _ByteDecoder:
    def __init__(self, n_bytes: int) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._n = n_bytes

    def add(self, token_id: int) -> str:
        if 0 <= token_id < self._n:
            return str(self._dec.decode(bytes((token_id,))))
        return ""

    def flush(self) -> str:
        return str(self._dec.decode(b"", final=True))


class ByteTokenizer:
    """Token ``i < 256`` is byte ``i``; ids >= 256 are special (end-of-text) and decode to ''."""

    kind = "byte"

    def __init__(self, bos_token_id: int | None = None) -> None:
        self.bos_token_id = bos_token_id
        self.add_bos = bos_token_id is not None

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

    def decoder(self) -> IncrementalDecoder:
        return _ByteDecoder(256)


class _HFDecoder:
    """Prefix/read-offset detokenisation (as vLLM does it).

    Decoding a few earlier tokens along with the new ones keeps tokenizers that strip a
    leading space right; while the text ends in U+FFFD (a character split across
    byte-level BPE tokens) nothing is emitted.
    """

    def __init__(self, tok: HFTokenizer) -> None:
        self._tok = tok
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def _delta(self, final: bool) -> str:
        prefix_text = self._tok.decode(self._ids[self._prefix : self._read])
        text = self._tok.decode(self._ids[self._prefix :])
        if len(text) > len(prefix_text) and (final or not text.endswith("\ufffd")):
            self._prefix, self._read = self._read, len(self._ids)
            return text[len(prefix_text) :]
        return ""

    def add(self, token_id: int) -> str:
        self._ids.append(token_id)
        return self._delta(final=False)

    def flush(self) -> str:
        return self._delta(final=True)


def import_tokenizers(path: Path, purpose: str) -> Any:
    """The optional ``tokenizers`` package, or a ``ModelError`` saying how to get it."""
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - optional dependency
        raise ModelError(
            f"{path}: {purpose} needs the 'tokenizers' package "
            "(pip install hyperion-otel[models]); pass token ids instead",
            path=str(path),
        ) from None
    return tokenizers


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` (needs the ``tokenizers`` package)."""

    kind = "hf"

    def __init__(self, path: Path, bos_token_id: int | None) -> None:
        lib = import_tokenizers(path, "reading tokenizer.json")
        try:
            self._tok: Any = lib.Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - the library raises plain Exception
            raise ModelError(f"{path}: cannot read tokenizer.json: {exc}", path=str(path)) from None
        self.bos_token_id = bos_token_id
        # The post-processor (e.g. Llama's template) decides whether BOS is added.
        self.add_bos = False

    @classmethod
    def from_library(cls, tok: Any, bos_token_id: int | None, *, add_bos: bool) -> HFTokenizer:
        """Wrap a ``tokenizers.Tokenizer`` built in memory (a GGUF file's embedded one);
        ``add_bos``: whether generation prepends BOS (such a tokenizer has no template)."""
        self = cls.__new__(cls)
        self.kind = "gguf"
        self._tok = tok
        self.bos_token_id = bos_token_id
        self.add_bos = add_bos
        return self

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=True).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=True))

    def decoder(self) -> IncrementalDecoder:
        return _HFDecoder(self)


def load_tokenizer(
    directory: Path | None, kind: str | None, bos_token_id: int | None
) -> Tokenizer | None:
    """The checkpoint's tokenizer: byte-level when the config says so, else tokenizer.json if present."""
    if kind == "byte":
        return ByteTokenizer(bos_token_id)
    if directory is not None and (directory / TOKENIZER_FILE).is_file():
        return HFTokenizer(directory / TOKENIZER_FILE, bos_token_id)
    return None
