"""Prompt and output content for the span, only under the GenAI content opt-in.

Text needs a tokenizer: the ``tokenizer`` argument of ``generate``, the tokenizer of a
``TextStreamer`` passed to it, or the model's own tokenizer files found locally
(``AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)``, loaded once per
model; never a download). Without one, a message carries the token ids instead of text
(part type ``token_ids``). One message per batch row (input) and per returned sequence
(output, with its finish reason); text and id lists are clipped to
``MAX_CAPTURED_CHARS`` characters / ids.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from hyperion_otel._seams import genai as _genai
from hyperion_otel.errors import ConfigError
from hyperion_otel.settings import read_setting

__all__ = ["capture_enabled", "find_tokenizer", "input_messages", "output_messages"]

_lock = threading.Lock()
_loaded: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_MISSING = object()


def capture_enabled() -> bool:
    """The GenAI content opt-in as our runtime reads it: ``configure()``'s pinned value,
    else the variable at call time (a value that is not a boolean counts as off)."""
    pinned = _genai.pinned_capture_content()
    if pinned is not None:
        return pinned
    try:
        return bool(read_setting("capture_message_content"))
    except ConfigError:
        return False


def _local_tokenizer(model: Any) -> Any:
    with _lock:
        try:
            found = _loaded.get(model, _MISSING)
        except TypeError:
            return None
    if found is not _MISSING:
        return found
    tok = None
    path = getattr(getattr(model, "config", None), "name_or_path", "")
    if path:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except Exception:  # noqa: BLE001 - no local tokenizer: ids are captured instead
            tok = None
    with _lock:
        _loaded[model] = tok
    return tok


def find_tokenizer(model: Any, kwargs: Mapping[str, Any]) -> Any:
    tok = kwargs.get("tokenizer")
    if tok is None:
        tok = getattr(kwargs.get("streamer"), "tokenizer", None)
    if tok is None:
        tok = _local_tokenizer(model)
    return tok if callable(getattr(tok, "decode", None)) else None


def _decode(tokenizer: Any, ids: list[int]) -> str | None:
    if tokenizer is None:
        return None
    try:
        return str(tokenizer.decode(ids, skip_special_tokens=True))
    except Exception:  # noqa: BLE001 - a tokenizer that cannot decode these: ids instead
        return None


def _part(tokenizer: Any, ids: list[int]) -> dict[str, Any]:
    text = _decode(tokenizer, ids)
    if text is not None:
        return {"type": "text", "content": _genai.clip(text)}
    return {"type": "token_ids", "content": ids[: _genai.MAX_CAPTURED_CHARS]}


def input_messages(tokenizer: Any, input_ids: Any, attention_mask: Any) -> str:
    rows: list[list[int]] = input_ids.tolist()
    masks: list[list[int]] | None = attention_mask.tolist() if attention_mask is not None else None
    msgs = []
    for i, row in enumerate(rows):
        ids = [t for t, m in zip(row, masks[i], strict=True) if m] if masks is not None else row
        msgs.append({"role": "user", "parts": [_part(tokenizer, ids)]})
    return _genai.dump_messages(msgs)


def output_messages(tokenizer: Any, rows: Sequence[list[int]], reasons: Sequence[str]) -> str:
    return _genai.dump_messages(
        [
            {"role": "assistant", "parts": [_part(tokenizer, ids)], "finish_reason": reason}
            for ids, reason in zip(rows, reasons, strict=True)
        ]
    )
