"""ResourceLimits validation, and which limits a model gets (own, process default, none)."""

from __future__ import annotations

import gc
import math
import weakref
from typing import Any

import pytest

from hyperion_otel._seams import governor as _governor
from hyperion_otel.errors import InvalidInputError, ResourceLimitError
from hyperion_otel.resources import (
    ResourceLimits,
    apply_resource_settings,
    get_resource_limits,
    get_resource_usage,
    set_resource_limits,
)
from hyperion_otel.resources._process_metrics import process_metrics_enabled
from hyperion_otel.runtime.model import Model


def test_defaults_are_no_limit_and_frozen() -> None:
    limits = ResourceLimits()
    assert (limits.max_cpu_percent, limits.max_memory_mb, limits.max_threads) == (None, None, None)
    with pytest.raises(AttributeError):
        limits.max_threads = 2  # type: ignore[misc]
    assert ResourceLimits(80, 1024, 4) == ResourceLimits(
        max_cpu_percent=80, max_memory_mb=1024, max_threads=4
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_cpu_percent", 0),
        ("max_cpu_percent", -5.0),
        ("max_cpu_percent", math.nan),
        ("max_cpu_percent", math.inf),
        ("max_cpu_percent", 1e9),
        ("max_cpu_percent", "80"),
        ("max_cpu_percent", True),
        ("max_memory_mb", 0),
        ("max_memory_mb", -1),
        ("max_memory_mb", math.nan),
        ("max_memory_mb", "1GB"),
        ("max_threads", 0),
        ("max_threads", 1.5),
        ("max_threads", 5000),
        ("max_threads", False),
        ("max_threads", "4"),
    ],
)
def test_bad_value_names_field_value_and_what_is_allowed(field: str, value: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        ResourceLimits(**{field: value})
    err = info.value
    assert err.details["field"] == field
    assert err.details["value"] == repr(value)
    assert f"ResourceLimits.{field} = {value!r}" in err.message
    assert "expected" in err.message and "None for no limit" in err.message
    assert err.file == __file__  # points at the caller's line


def test_own_limits_win_over_process_defaults(model: Model) -> None:
    assert get_resource_limits(model) == ResourceLimits()
    undo = apply_resource_settings(max_cpu_percent=400, max_memory_mb=None, max_threads=2)
    try:
        assert get_resource_limits(model) == ResourceLimits(max_cpu_percent=400, max_threads=2)
        assert get_resource_usage(model).limits == ResourceLimits(400, None, 2)
        set_resource_limits(model, ResourceLimits(max_threads=1))
        assert get_resource_limits(model) == ResourceLimits(max_threads=1)
        set_resource_limits(model, ResourceLimits())  # explicit opt-out of the defaults
        assert get_resource_limits(model) == ResourceLimits()
        assert model.work() is model.work()  # no governor: the shared no-op
        set_resource_limits(model, None)  # back to the defaults
        assert get_resource_limits(model) == ResourceLimits(max_cpu_percent=400, max_threads=2)
    finally:
        undo()
    assert get_resource_limits(model) == ResourceLimits()


def test_apply_resource_settings_undo_leaves_process_as_found(model: Model) -> None:
    before = process_metrics_enabled()
    undo = apply_resource_settings(None, None, None)
    assert process_metrics_enabled()
    assert _governor.default() is None  # nothing to limit
    undo()
    undo()  # idempotent
    assert process_metrics_enabled() == before
    undo_a = apply_resource_settings(max_threads=1)
    undo_b = apply_resource_settings(max_threads=2)
    undo_b()
    assert get_resource_limits(model) == ResourceLimits(max_threads=1)
    undo_a()
    assert get_resource_limits(model) == ResourceLimits()


def test_settings_values_are_validated_like_limits() -> None:
    with pytest.raises(InvalidInputError, match="max_threads"):
        apply_resource_settings(max_threads=0)


@pytest.mark.parametrize("bad", [None, "model", 3])
def test_functions_reject_what_is_not_a_model(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="expects a Model"):
        set_resource_limits(bad, ResourceLimits())
    with pytest.raises(InvalidInputError, match="expects a Model"):
        get_resource_limits(bad)


def test_set_resource_limits_rejects_other_limit_types(model: Model) -> None:
    with pytest.raises(InvalidInputError, match="ResourceLimits or None"):
        set_resource_limits(model, {"max_threads": 1})  # type: ignore[arg-type]


class OtherRuntimeModel:
    """A model of another runtime (as a transformers model): only what the protocol asks,
    an object that can be weakly referenced; ``name_or_path`` labels it."""

    name_or_path = "org/other-model"


def test_models_of_other_runtimes_are_governed_through_the_seam(model: Model) -> None:
    other = OtherRuntimeModel()
    set_resource_limits(other, ResourceLimits(max_memory_mb=1))  # below any real RSS
    assert get_resource_limits(other) == ResourceLimits(max_memory_mb=1)
    assert get_resource_usage(other).limits == ResourceLimits(max_memory_mb=1)
    assert get_resource_limits(model) == ResourceLimits()  # limits are per model object
    with pytest.raises(ResourceLimitError) as info, _governor.work(other):
        pass  # the integration's forward call would run here
    assert info.value.details["model"] == "org/other-model"
    assert "'org/other-model'" in info.value.message and info.value.details["when"] == "before"
    set_resource_limits(other, None)
    assert _governor.work(other) is _governor.work(model)  # the shared no-op again
    with _governor.work(other):
        pass


def test_a_models_limits_go_away_with_it() -> None:
    gc.collect()
    before = len(_governor._own)
    other = OtherRuntimeModel()
    set_resource_limits(other, ResourceLimits(max_threads=1))
    assert len(_governor._own) == before + 1
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None  # the seam does not keep a governed model alive
    assert len(_governor._own) == before
