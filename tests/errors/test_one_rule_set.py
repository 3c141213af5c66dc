"""One rule per field: ``validate_inputs``, ``GenerationConfig`` and ``Model`` agree.

The same value goes to each of them; they must all accept it or all refuse it with an
``InvalidInputError`` naming the same field.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import hyperion_otel as h
from hyperion_otel.errors import ConfigError, InvalidInputError
from hyperion_otel.validation import MAX_NEW_TOKENS, validate_token_ids

# field -> values, each with the verdict (True: accepted)
CONFIG_CASES: list[tuple[str, Any, bool]] = [
    ("temperature", 0, True),
    ("temperature", 1.5, True),
    ("temperature", np.float32(0.7), True),
    ("temperature", -0.1, False),
    ("temperature", float("nan"), False),
    ("temperature", float("inf"), False),
    ("temperature", True, False),
    ("temperature", "hot", False),
    ("temperature", None, False),
    ("top_k", 0, True),
    ("top_k", 50, True),
    ("top_k", np.int64(5), True),
    ("top_k", None, False),
    ("top_k", -1, False),
    ("top_k", 2.5, False),
    ("top_k", True, False),
    ("top_p", 1, True),
    ("top_p", 0.9, True),
    ("top_p", None, False),
    ("top_p", 0, False),
    ("top_p", 1.5, False),
    ("max_new_tokens", 1, True),
    ("max_new_tokens", MAX_NEW_TOKENS, True),
    ("max_new_tokens", MAX_NEW_TOKENS + 1, False),
    ("max_new_tokens", 0, False),
    ("max_new_tokens", None, False),
    ("max_new_tokens", 3.0, False),
    ("seed", None, True),
    ("seed", 7, True),
    ("seed", -3, False),
    ("seed", "7", False),
    ("stop", None, True),
    ("stop", "\n", True),
    ("stop", ["a", "b"], True),
    ("stop", [""], False),
    ("stop", "", False),
    ("stop", [1], False),
    ("stop_token_ids", (1, 2), True),
    ("stop_token_ids", [-1], False),
    ("stop_token_ids", "1", False),
]


def _verdict(check: Callable[[], object]) -> tuple[bool, str | None]:
    try:
        check()
    except InvalidInputError as exc:
        assert not isinstance(exc, ConfigError)
        return False, str(exc.details.get("field"))
    return True, None


@pytest.mark.parametrize(("name", "value", "ok"), CONFIG_CASES)
def test_generation_fields_get_the_same_verdict_everywhere(name: str, value: Any, ok: bool) -> None:
    by_constructor = _verdict(lambda: h.GenerationConfig(**{name: value}))
    by_validator = _verdict(lambda: h.validate_inputs(config={name: value}))
    assert by_constructor[0] is by_validator[0] is ok, (by_constructor, by_validator)
    if not ok:
        assert by_constructor[1] == f"GenerationConfig.{name}"
        assert by_validator[1] == f"config.{name}"


@pytest.fixture(scope="module")
def model() -> Any:
    return h.load_model("builtin:tiny")


def _ids_cases(vocab: int, context: int) -> list[tuple[Any, bool]]:
    return [
        ([1, 2, 3], True),
        (np.array([1, 2], dtype=np.int32), True),
        (np.array([1, 2], dtype=np.uint8), True),
        ((vocab - 1,), True),
        ([0] * context, True),
        ([0] * (context + 1), False),
        ([], False),
        (np.array([], dtype=np.int64), False),
        ([vocab], False),
        ([-1], False),
        ([1, True], False),
        ([1, 2.0], False),
        (np.array([1.0, 2.0]), False),
        (np.array([True, False]), False),
        (np.zeros((2, 2), dtype=np.int64), False),
        ("not ids", False),
        (None, False),
    ]


def _prompt_rule(ids: Any, **limits: int) -> None:
    h.validate_inputs(prompt=ids, **limits)


def test_token_ids_get_the_same_verdict_everywhere(model: Any) -> None:
    vocab, context = model.config.vocab_size, model.context_length
    for ids, ok in _ids_cases(vocab, context):
        by_model = _verdict(lambda ids=ids: model.check_ids(ids, "prompt"))
        # validate_inputs takes a str as prompt text: the token-id rule is checked directly
        check = validate_token_ids if isinstance(ids, str) else _prompt_rule
        by_validator = _verdict(
            lambda ids=ids, check=check: check(ids, vocab_size=vocab, context_length=context)
        )
        assert by_model[0] is by_validator[0] is ok, (ids, by_model, by_validator)
        if not ok:
            assert by_model[1] == by_validator[1], ids


def test_an_empty_prompt_is_refused_by_every_entry_point(model: Any) -> None:
    for call in (
        lambda: model.generate(""),
        lambda: model.generate([]),
        lambda: model.stream(""),
        lambda: model.forward([]),
        lambda: h.validate_inputs(prompt=""),
    ):
        with pytest.raises(InvalidInputError, match="got an empty"):
            call()


def test_a_config_error_points_at_the_line_that_built_the_config() -> None:
    with pytest.raises(InvalidInputError) as info:
        h.GenerationConfig(top_k=None)  # type: ignore[arg-type]
    err = info.value
    assert (err.file, err.function) == (
        __file__,
        "test_a_config_error_points_at_the_line_that_built_the_config",
    )
    assert "GenerationConfig(top_k=None)" in linecache.getline(__file__, err.line)
