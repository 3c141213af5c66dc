"""Input validation: typed errors naming the field, the expectation and the bad value."""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hyperion_otel.errors import ErrorType, InvalidInputError
from hyperion_otel.validation import (
    validate_array,
    validate_generation_config,
    validate_inputs,
    validate_prompt,
    validate_token_ids,
)


@dataclass(frozen=True)
class Config:  # the shape of the runtime's GenerationConfig
    temperature: Any = 0.8
    top_k: Any = 40
    top_p: Any = 0.95
    max_new_tokens: Any = 16
    seed: Any = None
    stop: Any = field(default=None)


def test_valid_inputs_pass_and_are_returned() -> None:
    assert validate_prompt("hello") == "hello"
    assert validate_prompt((1, 2, np.int64(3))) == [1, 2, 3]
    assert validate_token_ids(np.array([5, 6], dtype=np.int32), vocab_size=7) == [5, 6]
    validate_generation_config(Config())
    validate_generation_config(Config(temperature=0, top_k=0, top_p=1, seed=7, stop=["\n\n"]))
    validate_generation_config({"temperature": 1, "max_new_tokens": 1})
    validate_inputs(prompt=[1, 2], config=Config(), context_length=8, vocab_size=10, reserve=1)


@pytest.mark.parametrize(
    ("call", "field_name", "message"),
    [
        (
            lambda: validate_prompt(None),
            "prompt",
            "invalid prompt: expected a str or a list of int token ids, got NoneType",
        ),
        (
            lambda: validate_prompt(""),
            "prompt",
            "expected a non-empty string or token ids, got an empty string",
        ),
        (
            lambda: validate_prompt([]),
            "prompt",
            "expected at least one token id, got an empty sequence",
        ),
        (
            lambda: validate_prompt([1, "2"]),
            "prompt[1]",
            "invalid prompt[1]: expected an integer token id, got '2'",
        ),
        (lambda: validate_prompt([1, True]), "prompt[1]", "got True"),
        (
            lambda: validate_prompt([1, 99], vocab_size=50),
            "prompt[1]",
            "expected a token id in [0, 50), got 99",
        ),
        (lambda: validate_prompt([-1]), "prompt[0]", "expected a token id >= 0, got -1"),
        (
            lambda: validate_prompt(list(range(8)), context_length=8, reserve=1),
            "prompt",
            "expected at most 7 tokens for a context of 8 (leaving room for 1 new), got 8 tokens",
        ),
        (
            lambda: validate_prompt(np.zeros((2, 2), dtype=np.int64)),
            "prompt",
            "got array of dtype int64 and shape (2, 2)",
        ),
        (
            lambda: validate_prompt(np.zeros(2)),
            "prompt",
            "expected a 1-D integer array of token ids",
        ),
        (
            lambda: validate_generation_config(Config(temperature=-0.5)),
            "config.temperature",
            "expected a finite number >= 0 (0 is greedy), got -0.5",
        ),
        (
            lambda: validate_generation_config(Config(temperature=float("nan"))),
            "config.temperature",
            "got nan",
        ),
        (
            lambda: validate_generation_config(Config(temperature="hot")),
            "config.temperature",
            "got 'hot'",
        ),
        (
            lambda: validate_generation_config(Config(top_k=-1)),
            "config.top_k",
            "expected an integer >= 0 (0 disables top-k)",
        ),
        (lambda: validate_generation_config(Config(top_k=2.5)), "config.top_k", "got 2.5"),
        (
            lambda: validate_generation_config(Config(top_p=0)),
            "config.top_p",
            "expected a number in (0, 1] (1 disables top-p), got 0",
        ),
        (lambda: validate_generation_config(Config(top_p=1.5)), "config.top_p", "got 1.5"),
        (
            lambda: validate_generation_config(Config(max_new_tokens=0)),
            "config.max_new_tokens",
            "expected an integer in [1, 1048576], got 0",
        ),
        (
            lambda: validate_generation_config(Config(max_new_tokens=True)),
            "config.max_new_tokens",
            "got True",
        ),
        (lambda: validate_generation_config(Config(seed=-3)), "config.seed", "got -3"),
        (lambda: validate_generation_config(Config(stop=[""])), "config.stop", "non-empty strings"),
        (lambda: validate_generation_config(Config(stop=5)), "config.stop", "got 5"),
        (lambda: validate_generation_config(3), "config", "expected a GenerationConfig, got int"),
        (
            lambda: validate_array([1.0], field="logits"),
            "logits",
            "invalid logits: expected a numpy array, got list",
        ),
        (
            lambda: validate_array(np.zeros(3, np.float64), field="x", dtype=np.float32),
            "x",
            "expected dtype float32, got dtype float64",
        ),
        (
            lambda: validate_array(np.zeros(3, np.int8), field="x", dtype=(np.float32, np.float16)),
            "x",
            "expected dtype float32 or float16",
        ),
        (
            lambda: validate_array(np.zeros(3), field="ids", kind="iu"),
            "ids",
            "expected dtype kind in 'iu', got dtype float64",
        ),
        (
            lambda: validate_array(np.zeros((2, 3)), field="x", ndim=1),
            "x",
            "expected 1 dimensions, got shape (2, 3)",
        ),
        (
            lambda: validate_array(np.zeros((2, 3)), field="x", shape=(None, 4)),
            "x",
            "expected shape (*, 4), got shape (2, 3)",
        ),
        (
            lambda: validate_array(np.zeros((2, 3)), field="x", shape=(2,)),
            "x",
            "expected shape (2), got shape (2, 3)",
        ),
    ],
)
def test_bad_input_names_field_expectation_and_value(
    call: Any, field_name: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        call()
    err = info.value
    assert err.type is ErrorType.INVALID_INPUT
    assert err.details["field"] == field_name
    assert message in err.message
    assert "\n" not in str(err)
    assert isinstance(err, ValueError)  # `except ValueError` in user code keeps working


def test_non_finite_array_values_are_located() -> None:
    a = np.zeros((2, 4), dtype=np.float32)
    a[1, 2] = np.nan
    a[1, 3] = np.inf
    with pytest.raises(
        InvalidInputError, match=r"got 2 non-finite values \(first nan at index \(1, 2\)\)"
    ):
        validate_array(a, field="hidden", dtype=np.float32, shape=(2, 4))
    validate_array(a, field="hidden", finite=False)
    validate_array(np.array([1, 2]), field="ids")  # integer arrays are always finite


def test_prompt_text_never_appears_in_the_error() -> None:
    secret = "my api key is hunter2"
    with pytest.raises(InvalidInputError) as info:
        validate_inputs(prompt={"text": secret})
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value.details)


def test_validate_inputs_checks_prompt_config_and_arrays() -> None:
    with pytest.raises(InvalidInputError, match=r"config\.top_p"):
        validate_inputs(prompt="hi", config=Config(top_p=2.0))
    with pytest.raises(InvalidInputError, match="invalid attention_mask: expected finite values"):
        validate_inputs(arrays={"attention_mask": np.array([np.nan])})
    with pytest.raises(InvalidInputError, match="invalid embeddings: expected dtype kind"):
        validate_inputs(arrays={"embeddings": np.array(["a"])})
    with pytest.raises(InvalidInputError, match="invalid prompt: expected a str"):
        validate_inputs(prompt=None)  # explicitly passed None is checked
    validate_inputs()  # nothing given, nothing checked


def _entry_point(prompt: object) -> None:
    validate_inputs(prompt=prompt)  # <- default location


def _entry_point_blaming_caller(prompt: object) -> None:
    validate_inputs(prompt=prompt, stacklevel=2)


def test_location_is_the_validating_line_or_its_caller_with_stacklevel() -> None:
    with pytest.raises(InvalidInputError) as info:
        _entry_point(3.5)
    err = info.value
    assert err.file == __file__ and err.function == "_entry_point"
    assert "<- default location" in linecache.getline(err.file, err.line)

    with pytest.raises(InvalidInputError) as info:
        _entry_point_blaming_caller(3.5)  # <- caller line
    err = info.value
    assert err.function.endswith(
        "test_location_is_the_validating_line_or_its_caller_with_stacklevel"
    )
    assert "<- caller line" in linecache.getline(err.file, err.line)
