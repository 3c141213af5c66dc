"""max_memory_mb: RSS (and the peak a unit of work reached) checked at unit boundaries,
the memory pool capped at the headroom in between; past the limit ResourceLimitError
with the figures."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from opentelemetry.trace import StatusCode

from hyperion_otel import semconv
from hyperion_otel.errors import (
    ErrorType,
    HyperionError,
    HyperionMemoryError,
    ResourceLimitError,
    clear_last_error,
    get_last_error,
    remove_error_callback,
    set_error_callback,
)
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.memory import MemoryConfig, init_memory
from hyperion_otel.resources import ResourceLimits, get_resource_usage, set_resource_limits
from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.model import Model
from hyperion_otel.testing import create_test_context

MiB = 1024 * 1024
ONE = GenerationConfig(temperature=0, max_new_tokens=1)
REPO = Path(__file__).resolve().parents[2]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MiB


def test_limit_below_the_process_memory_stops_before_any_work(model: Model) -> None:
    limit = round(rss_mb() / 2, 1)
    set_resource_limits(model, ResourceLimits(max_memory_mb=limit))
    with pytest.raises(ResourceLimitError) as info:
        model.generate([1, 2, 3], ONE)
    err = info.value
    assert err.type is ErrorType.RESOURCE
    assert err.details["when"] == "before"
    assert err.details["limit_mb"] == limit
    assert err.details["rss_mb"] > limit
    assert err.details["model"] == model.name
    assert f"max_memory_mb {limit:g} of model {model.name!r}" in err.message
    assert "RSS" in err.message
    with pytest.raises(ResourceLimitError):
        model.forward([1, 2, 3])


def test_pool_figures_are_in_the_error(model: Model) -> None:
    pool = init_memory(MemoryConfig(initial_pool_size=MiB))
    model.generate([1, 2, 3], ONE)  # the pool now holds the KV cache and activations
    set_resource_limits(model, ResourceLimits(max_memory_mb=1))
    with pytest.raises(ResourceLimitError) as info:
        model.generate([1, 2, 3], ONE)
    d = info.value.details
    assert d["pool_limit_bytes"] == pool.heap_stats().max_pool_bytes
    assert d["pool_bytes"] >= MiB and d["pool_used_bytes"] >= 0
    assert "memory pool:" in info.value.message


# Run in a fresh process: the peak check sees a unit's peak only when it sets a new peak of
# the process image, which a long test session may already have set higher.
PEAK_CHILD = textwrap.dedent(
    """
    import json, sys
    import psutil
    from hyperion_otel.errors import ResourceLimitError
    from hyperion_otel.resources import ResourceLimits, set_resource_limits
    from hyperion_otel.resources._proc import rss_and_peak
    from hyperion_otel.runtime import GenerationConfig, load_model

    model = load_model(sys.argv[1])
    one = GenerationConfig(temperature=0, max_new_tokens=1)
    model.generate([1, 2, 3], one)  # warm: numpy and BLAS buffers are in place
    # Above the current RSS and above every peak so far (loading the weights made one).
    rss = psutil.Process().memory_info().rss / 2**20
    peak = rss_and_peak()[1] / 2**20
    limit = max(rss, peak) + 8
    set_resource_limits(model, ResourceLimits(max_memory_mb=limit))
    model.generate([1, 2, 3], one)  # a small prompt fits
    try:
        # 1500 tokens: ~14 MiB of activations and ~34 MiB of attention scores, all freed
        # again before the prefill ends, so only the peak shows it.
        model.generate(list(range(1, 61)) * 25, one)
    except ResourceLimitError as err:
        print(json.dumps({"limit_set": limit, "message": err.message, **{
            k: v for k, v in err.details.items() if isinstance(v, (int, float, str, type(None)))
        }}))
    else:
        print(json.dumps({"raised": False}))
    """
)


def test_a_unit_whose_peak_passes_the_limit_raises_with_figures(wide_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_CHILD, str(wide_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got.get("raised", True), out.stdout + out.stderr
    assert got["when"] == "after"
    assert got["peak_rss_mb"] > got["limit_mb"]
    assert got["limit_mb"] == pytest.approx(got["limit_set"])
    assert "peak" in got["message"] and "during the unit" in got["message"]


def test_within_the_limit_generation_runs(wide_model: Model) -> None:
    limit = rss_mb() + 1024
    set_resource_limits(wide_model, ResourceLimits(max_memory_mb=limit))
    out = wide_model.generate(
        list(range(1, 61)) * 5, GenerationConfig(temperature=0, max_new_tokens=4)
    )
    assert len(out.token_ids) == 4
    assert get_resource_usage(wide_model).limits.max_memory_mb == limit


def test_the_pool_refuses_growth_past_the_limit_at_the_allocation(wide_model: Model) -> None:
    pool = init_memory(MemoryConfig(initial_pool_size=MiB))
    wide_model.generate([1, 2, 3], ONE)  # warm: the small prompt's blocks are in the pool
    limit = rss_mb() + 4  # 4 MiB of headroom; the long prompt needs ~14 MiB of activations
    set_resource_limits(wide_model, ResourceLimits(max_memory_mb=limit))
    wide_model.generate([1, 2, 3], ONE)  # a small prompt fits
    with pytest.raises(ResourceLimitError) as info:
        wide_model.generate(list(range(1, 61)) * 25, ONE)
    err = info.value
    assert err.details["when"] == "during" and err.details["requested_bytes"] > 0
    assert "memory pool refused a" in err.message and f"max_memory_mb {limit:g}" in err.message
    cause = err.__cause__
    assert isinstance(cause, HyperionMemoryError) and "capped by a resource limit" in cause.message
    # The cap lasts only while the unit runs: the pool's budget is its own again.
    assert pool.max_pool_size == pool.config.max_pool_size
    set_resource_limits(wide_model, None)
    assert len(wide_model.generate(list(range(1, 61)) * 25, ONE).token_ids) == 1


def test_a_refusal_turned_into_a_resource_limit_error_is_one_event(deep_path: Path) -> None:
    """The pool's HyperionMemoryError inside the prefill becomes a ResourceLimitError (``raise
    ... from``): the caller gets one error, and that one is the event: one point of
    hyperion.errors, one callback call, one exception record naming its cause. The prefill
    span still shows where it began."""
    deep = load_model(str(deep_path))
    init_memory(MemoryConfig(initial_pool_size=MiB))
    deep.generate([1, 2, 3], ONE)
    deep.generate(list(range(1, 61)) * 5, ONE)  # warm: a mid-size prompt's blocks are pooled
    set_resource_limits(deep, ResourceLimits(max_memory_mb=rss_mb() + 4))
    seen: list[HyperionError] = []
    set_error_callback(seen.append)
    try:
        with create_test_context() as ctx:
            with pytest.raises(ResourceLimitError) as info:
                deep.generate(list(range(1, 61)) * 25, ONE)
            points = ctx.metric_points(semconv.METRIC_ERRORS)
            records = ctx.logs_where(exception__type=qualified_name(ResourceLimitError))
            all_records = [r for r in ctx.logs if "exception.type" in r.log_record.attributes]
            prefill = ctx.span(semconv.SPAN_PREFILL)
    finally:
        remove_error_callback(seen.append)
    err = info.value
    assert isinstance(err.__cause__, HyperionMemoryError)
    # where it began: the prefill span is marked with the pool's error
    assert prefill.status.status_code is StatusCode.ERROR
    assert prefill.attributes[semconv.ERROR_TYPE] == qualified_name(HyperionMemoryError)
    # one event, the raised one
    assert [(p.attributes[semconv.ERROR_TYPE], p.value) for p in points] == [
        (qualified_name(ResourceLimitError), 1)
    ]
    assert seen == [err] and get_last_error() is err
    assert len(all_records) == len(records) == 1
    attrs = records[0].log_record.attributes
    assert attrs[semconv.HYPERION_ERROR_CAUSE_TYPE] == qualified_name(HyperionMemoryError)
    assert "capped by a resource limit" in attrs[semconv.HYPERION_ERROR_CAUSE_MESSAGE]
    clear_last_error()


def test_a_unit_that_fails_to_start_leaves_the_pool_budget_as_found(
    wide_model: Model,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hyperion_otel.resources import _threads

    pool = init_memory(MemoryConfig(initial_pool_size=MiB))
    set_resource_limits(wide_model, ResourceLimits(max_memory_mb=rss_mb() + 64, max_threads=1))

    def refuse(cap: int) -> None:
        raise RuntimeError("threadpoolctl failed")

    monkeypatch.setattr(_threads, "acquire", refuse)
    with pytest.raises(RuntimeError, match="threadpoolctl failed"):
        wide_model.generate([1, 2, 3], ONE)
    assert pool.max_pool_size == pool.config.max_pool_size
