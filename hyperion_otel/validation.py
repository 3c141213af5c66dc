"""Input checks for public entry points: bad input raises ``InvalidInputError`` naming the field.

Every message reads ``invalid <field>: expected <what is allowed>, got <what was given>``
and the error's ``details`` carry ``field`` and ``expected``. A prompt's text never goes
into an error (errors become telemetry): only its type and length are shown.

The error's location (``file``/``line``/``function``) is the line that called the
validator; ``stacklevel=2`` points one frame further out (for instance at the user's
call of the entry point that validates).

``validate_inputs(...)`` checks everything a generate call receives at once; the single
checks (``validate_prompt``, ``validate_token_ids``, ``validate_generation_config``,
``validate_array``) are there for entry points that need only one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.errors._types import skip_frames_of

__all__ = [
    "MAX_NEW_TOKENS",
    "token_id_array",
    "validate_array",
    "validate_generation_config",
    "validate_inputs",
    "validate_prompt",
    "validate_token_ids",
]

skip_frames_of(__file__)
_MAX_SHOWN = 80  # characters of a bad value's repr kept in the message


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _fail(field: str, expected: str, got: str, stacklevel: int) -> InvalidInputError:
    # Frames of this file are skipped (``skip_frames_of`` below), so ``stacklevel`` counts
    # from the code that called the validator.
    return InvalidInputError(
        f"invalid {field}: expected {expected}, got {got}",
        field=field,
        expected=expected,
        stacklevel=stacklevel,
    )


def _is_int(value: object) -> bool:
    if type(value) is int:  # the common case, without the ABC check
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    if type(value) is float or type(value) is int:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def token_id_array(
    ids: object,
    *,
    field: str = "prompt",
    context_length: int | None = None,
    vocab_size: int | None = None,
    reserve: int = 0,
    allow_empty: bool = False,
    stacklevel: int = 1,
) -> npt.NDArray[np.int64]:
    """``validate_token_ids`` returning the ids as a 1-D int64 array (what the runtime runs)."""
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            shape = f"array of dtype {ids.dtype} and shape {ids.shape}"
            raise _fail(field, "a 1-D integer array of token ids", shape, stacklevel)
        raw: Any = ids
    elif isinstance(ids, (list, tuple)):
        if not all(type(v) is int for v in ids):  # else: numpy ints, bools, anything else
            for i, v in enumerate(ids):
                if not _is_int(v):
                    raise _fail(f"{field}[{i}]", "an integer token id", _show(v), stacklevel)
            ids = [int(v) for v in ids]
        raw = ids
    else:
        raise _fail(field, "a list of integer token ids", type(ids).__name__, stacklevel)
    if len(raw) == 0 and not allow_empty:
        raise _fail(field, "at least one token id", "an empty sequence", stacklevel)
    upper = vocab_size if vocab_size is not None else np.iinfo(np.int64).max
    if isinstance(raw, (list, tuple)):
        bad = (
            []
            if all(0 <= v < upper for v in raw)
            else [i for i, v in enumerate(raw) if not 0 <= v < upper][:1]
        )
    else:
        bad = np.flatnonzero((raw < 0) | (raw >= upper))[:1].tolist()
    if bad:
        i = bad[0]
        expected = f"a token id in [0, {vocab_size})" if vocab_size else "a token id >= 0"
        raise _fail(f"{field}[{i}]", expected, str(int(raw[i])), stacklevel)
    if context_length is not None and len(raw) > context_length - reserve:
        limit = context_length - reserve
        room = f" (leaving room for {reserve} new)" if reserve else ""
        raise _fail(
            field,
            f"at most {limit} tokens for a context of {context_length}{room}",
            f"{len(raw)} tokens",
            stacklevel,
        )
    return np.asarray(raw, dtype=np.int64)


def validate_token_ids(
    ids: object,
    *,
    field: str = "prompt",
    context_length: int | None = None,
    vocab_size: int | None = None,
    reserve: int = 0,
    allow_empty: bool = False,
    stacklevel: int = 1,
) -> list[int]:
    """A sequence (or 1-D integer array) of token ids in ``[0, vocab_size)``; returns a list.

    With ``context_length``, at most ``context_length - reserve`` ids are allowed
    (``reserve=1`` keeps room for one generated token).
    """
    values: list[int] = token_id_array(
        ids,
        field=field,
        context_length=context_length,
        vocab_size=vocab_size,
        reserve=reserve,
        allow_empty=allow_empty,
        stacklevel=stacklevel,
    ).tolist()
    return values


def validate_prompt(
    prompt: object,
    *,
    field: str = "prompt",
    context_length: int | None = None,
    vocab_size: int | None = None,
    reserve: int = 0,
    allow_empty: bool = False,
    stacklevel: int = 1,
) -> str | list[int]:
    """A string or a sequence of token ids; returns the string or the ids as a list.

    A string's token count is unknown before tokenizing: check the ids again with
    ``validate_token_ids`` (which also enforces ``context_length``) after tokenizing.
    """
    if isinstance(prompt, str):
        if not prompt and not allow_empty:
            raise _fail(field, "a non-empty string or token ids", "an empty string", stacklevel)
        return prompt
    if isinstance(prompt, (list, tuple, np.ndarray)):
        return validate_token_ids(
            prompt,
            field=field,
            context_length=context_length,
            vocab_size=vocab_size,
            reserve=reserve,
            allow_empty=allow_empty,
            stacklevel=stacklevel,
        )
    raise _fail(field, "a str or a list of int token ids", type(prompt).__name__, stacklevel)


def _config_fields(config: object) -> Mapping[str, Any]:
    if isinstance(config, Mapping):
        return {k: config[k] for k in _GENERATION_RULES if k in config}
    return {k: getattr(config, k) for k in _GENERATION_RULES if hasattr(config, k)}


def validate_generation_config(
    config: object, *, field: str = "config", stacklevel: int = 1
) -> None:
    """Check the fields a generation config has (an object with attributes, or a mapping).

    These are the rules of ``GenerationConfig`` itself (its constructor calls this):
    temperature: finite >= 0 (0 is greedy); top_k: int >= 0 (0: off); top_p: in (0, 1]
    (1: off); max_new_tokens: int in [1, MAX_NEW_TOKENS]; seed: int >= 0 or None;
    stop: None, a non-empty str or a list/tuple of non-empty str; stop_token_ids: a
    list/tuple of ints >= 0.
    """
    if config is None or isinstance(config, (str, bytes, numbers.Number)):
        raise _fail(field, "a GenerationConfig", type(config).__name__, stacklevel)
    for name, value in _config_fields(config).items():
        ok, expected = _GENERATION_RULES[name]
        if not ok(value):
            raise _fail(f"{field}.{name}", expected, _show(value), stacklevel)


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and int(v) >= 0


def _stop_ok(v: Any) -> bool:
    if v is None or (isinstance(v, str) and v):
        return True
    return isinstance(v, (list, tuple)) and all(isinstance(s, str) and s for s in v)


MAX_NEW_TOKENS: Final = 1 << 20  # a bound that catches a unit mistake, far above any context

# field -> (is the value fine?, what was expected); the one rule per field.
_GENERATION_RULES: Final[dict[str, tuple[Callable[[Any], bool], str]]] = {
    "temperature": (
        lambda v: _is_real(v) and math.isfinite(float(v)) and float(v) >= 0,
        "a finite number >= 0 (0 is greedy)",
    ),
    "top_k": (_nonneg_int, "an integer >= 0 (0 disables top-k)"),
    "top_p": (
        lambda v: _is_real(v) and 0 < float(v) <= 1,
        "a number in (0, 1] (1 disables top-p)",
    ),
    "max_new_tokens": (
        lambda v: _is_int(v) and 1 <= int(v) <= MAX_NEW_TOKENS,
        f"an integer in [1, {MAX_NEW_TOKENS}]",
    ),
    "seed": (lambda v: v is None or _nonneg_int(v), "an integer >= 0 or None"),
    "stop": (_stop_ok, "None, a non-empty string or a list of non-empty strings"),
    "stop_token_ids": (
        lambda v: isinstance(v, (list, tuple)) and all(_nonneg_int(i) for i in v),
        "a list of token ids >= 0",
    ),
}


def validate_array(
    array: object,
    *,
    field: str,
    dtype: npt.DTypeLike | tuple[npt.DTypeLike, ...] | None = None,
    kind: str | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    stacklevel: int = 1,
) -> npt.NDArray[Any]:
    """A numpy array with the given dtype(s) or dtype ``kind`` chars (``"f"``, ``"iu"``),
    ``ndim``, ``shape`` (``None`` = any size on that axis) and, for float/complex data when
    ``finite``, no NaN or infinity. Returns the array.
    """
    if not isinstance(array, np.ndarray):
        raise _fail(field, "a numpy array", type(array).__name__, stacklevel)
    if dtype is not None:
        candidates: list[Any] = list(dtype) if isinstance(dtype, tuple) else [dtype]
        wanted = [np.dtype(d) for d in candidates]
        if array.dtype not in wanted:
            names = " or ".join(str(d) for d in wanted)
            raise _fail(field, f"dtype {names}", f"dtype {array.dtype}", stacklevel)
    if kind is not None and array.dtype.kind not in kind:
        raise _fail(field, f"dtype kind in {kind!r}", f"dtype {array.dtype}", stacklevel)
    if ndim is not None and array.ndim != ndim:
        raise _fail(field, f"{ndim} dimensions", f"shape {array.shape}", stacklevel)
    if shape is not None:
        fits = len(shape) == array.ndim and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True)
        )
        if not fits:
            want_text = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise _fail(field, f"shape {want_text}", f"shape {array.shape}", stacklevel)
    if finite and array.dtype.kind in "fc" and array.size and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        got = f"{int(bad.sum())} non-finite values (first {array[first]} at index {first})"
        raise _fail(field, "finite values", got, stacklevel)
    return array


@public
def validate_inputs(
    *,
    prompt: object = _UNSET,
    config: object = _UNSET,
    context_length: int | None = None,
    vocab_size: int | None = None,
    reserve: int = 0,
    arrays: Mapping[str, object] | None = None,
    stacklevel: int = 1,
) -> None:
    """Check a public entry point's inputs; raises ``InvalidInputError`` for the first bad one.

    ``prompt``: ``validate_prompt`` with ``context_length``/``vocab_size``/``reserve``;
    ``config``: ``validate_generation_config``; ``arrays``: name -> array, each a numeric
    numpy array of finite values (use ``validate_array`` for dtype/shape rules).
    Arguments left out are not checked.
    """
    if prompt is not _UNSET:
        validate_prompt(
            prompt,
            context_length=context_length,
            vocab_size=vocab_size,
            reserve=reserve,
            stacklevel=stacklevel,
        )
    if config is not _UNSET:
        validate_generation_config(config, stacklevel=stacklevel)
    for name, array in (arrays or {}).items():
        validate_array(array, field=name, kind="biufc", stacklevel=stacklevel)
