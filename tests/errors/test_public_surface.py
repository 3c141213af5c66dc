"""Every public callable records the errors it raises, once, with all five effects.

The list of callables is built from the ``__all__`` of ``hyperion_otel``, of
``hyperion_otel.api`` (rows ``api.<name>``) and of ``hyperion_otel.testing`` (rows
``testing.<name>``): each function, each public class's constructor and each of its methods
(public names, plus ``__enter__``/``__exit__``/``__next__``/``__call__``), and the same for
what public calls hand back (``Model.stream``, ``profiling()``, ``traced_op()``). Enums, the
exception classes and type aliases are values, not entry points, and are left out; a name
a second module re-exports (``api.record_error``) keeps its first row. A callable that appears without a row in ``BAD_CALLS``, or
without the boundary (``hyperion_otel.errors.public``), fails this test.
"""

from __future__ import annotations

import contextvars
import enum
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import hyperion_otel as h
import hyperion_otel.api as api
import hyperion_otel.testing as ht
from hyperion_otel import semconv
from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import (
    ConfigError,
    HyperionError,
    InvalidInputError,
    ModelError,
    PerformanceError,
    has_boundary,
    public,
)
from hyperion_otel.errors._boundary import _WRAPPED_DUNDERS
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.profiler.api import ProfilingBlock
from hyperion_otel.runtime.generate import GenerationStream
from hyperion_otel.testing import create_test_context

# Classes that public calls return and users then call into (not in __all__ themselves).
RETURNED_CLASSES: dict[str, type] = {
    "GenerationStream": GenerationStream,  # Model.stream()
    "ProfilingBlock": ProfilingBlock,  # profiling()
}
# Functions that public calls return (the decorator ``traced_op(...)`` builds).
RETURNED_FUNCTIONS: dict[str, object] = {"api.traced_op()": api.traced_op("probe")}
# The modules whose ``__all__`` is public, with the prefix of their rows.
MODULES: tuple[tuple[str, ModuleType], ...] = (("", h), ("api.", api), ("testing.", ht))


def _is_alias(obj: object) -> bool:
    """A typing alias (``ExporterFault = Literal[...]``): callable, but not an entry point."""
    return typing.get_origin(obj) is not None


def _exported() -> dict[str, object]:
    """Row prefix + name -> object, over every public module, each object once."""
    out: dict[str, object] = {}
    seen: set[int] = set()
    for prefix, module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or _is_alias(obj):
                continue
            seen.add(id(obj))
            out[prefix + name] = obj
    return out


def _public_classes() -> dict[str, type]:
    out = {
        name: obj
        for name, obj in _exported().items()
        if isinstance(obj, type) and not issubclass(obj, (enum.Enum, BaseException))
    }
    return {**out, **RETURNED_CLASSES}


def public_callables() -> dict[str, object]:
    """``name`` or ``Class.method`` -> the callable as the class stores it."""
    found: dict[str, object] = {
        **RETURNED_FUNCTIONS,
        **{
            name: obj
            for name, obj in _exported().items()
            if callable(obj) and not isinstance(obj, type)
        },
    }
    for cname, cls in _public_classes().items():
        found[cname] = cls
        for attr in dir(cls):
            if attr.startswith("_") and attr not in _WRAPPED_DUNDERS:
                continue
            if attr == "__init__":
                continue  # the constructor: the class's own row
            raw = inspect.getattr_static(cls, attr)
            if isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
                found[f"{cname}.{attr}"] = raw
    return found


@dataclass
class Env:
    tmp: Path
    model: Any
    pool: Any
    profile: Any


@pytest.fixture(scope="module")
def model() -> Any:
    return h.load_model("builtin:tiny")


@pytest.fixture(scope="module")
def profile() -> Any:
    with h.profiling(h.ProfilerConfig(sample_interval_ms=1.0)) as handle:
        sum(range(10_000))
    return handle.profile


@pytest.fixture
def env(tmp_path: Path, model: Any, profile: Any) -> Iterator[Env]:
    pool = h.MemoryPool(h.MemoryConfig(initial_pool_size=1 << 16, max_pool_size=1 << 20))
    try:
        yield Env(tmp_path, model, pool, profile)
    finally:
        pool.close()


def _running_profiler(call: Callable[[], object]) -> object:
    h.start_profiling()
    try:
        return call()
    finally:
        h.stop_profiling()


# name -> (the bad call, the exception it must raise). One row per public callable.
def _entered(s: Any) -> Any:
    """``s`` entered in a context of its own (the caller's current span stays current)."""
    contextvars.copy_context().run(s.__enter__)
    return s


BAD_CALLS: dict[str, tuple[Callable[[Env], object], type[BaseException]]] = {
    # --- module functions ---
    "analyze_bottlenecks": (lambda e: h.analyze_bottlenecks("gpt", max_rows=0), InvalidInputError),
    "check_memory_corruption": (lambda e: h.check_memory_corruption(1), TypeError),  # type: ignore[call-arg]
    "check_memory_leaks": (lambda e: h.check_memory_leaks(max_sites=-1), InvalidInputError),
    "clear_last_error": (lambda e: h.clear_last_error(1), TypeError),  # type: ignore[call-arg]
    "configure": (lambda e: h.configure(log_level="loud"), ConfigError),
    "configure_cache_optimization": (
        lambda e: h.configure_cache_optimization(e.model, "big"),
        InvalidInputError,
    ),
    "configure_log_rotation": (lambda e: h.configure_log_rotation("daily"), InvalidInputError),
    "configure_logging": (lambda e: h.configure_logging("nowhere"), InvalidInputError),
    "configure_memory_optimizer": (
        lambda e: h.configure_memory_optimizer("fast"),
        InvalidInputError,
    ),
    "configure_structured_logging": (
        lambda e: h.configure_structured_logging("json"),
        InvalidInputError,
    ),
    "enable_generation_debug": (lambda e: h.enable_generation_debug("yes"), InvalidInputError),
    "enable_hotspot_detection": (lambda e: h.enable_hotspot_detection("yes"), InvalidInputError),
    "enable_memory_debug": (lambda e: h.enable_memory_debug("all"), InvalidInputError),
    "enable_memory_logging": (lambda e: h.enable_memory_logging("yes"), InvalidInputError),
    "enable_model_logging": (lambda e: h.enable_model_logging("yes"), InvalidInputError),
    "enable_performance_logging": (
        lambda e: h.enable_performance_logging("yes"),
        InvalidInputError,
    ),
    "enable_simd": (lambda e: h.enable_simd("model"), InvalidInputError),
    "enable_stack_traces": (lambda e: h.enable_stack_traces(True, depth=0), InvalidInputError),
    "get_allocation_trace": (lambda e: h.get_allocation_trace("x"), InvalidInputError),
    "get_error_string": (lambda e: h.get_error_string("model"), InvalidInputError),
    "get_heap_stats": (lambda e: h.get_heap_stats(1), TypeError),  # type: ignore[call-arg]
    "get_hotspots": (lambda e: h.get_hotspots(top=0), InvalidInputError),
    "get_last_error": (lambda e: h.get_last_error(1), TypeError),  # type: ignore[call-arg]
    "get_logger": (lambda e: h.get_logger(""), InvalidInputError),
    "get_memory_debug_info": (lambda e: h.get_memory_debug_info(1), TypeError),  # type: ignore[call-arg]
    "get_model_info": (lambda e: h.get_model_info(e.tmp / "missing"), ModelError),
    "get_resource_usage": (lambda e: h.get_resource_usage("model"), InvalidInputError),
    "init_memory": (lambda e: h.init_memory("x"), InvalidInputError),
    "init_profiler": (lambda e: h.init_profiler("fast"), InvalidInputError),
    "load_model": (lambda e: h.load_model(e.tmp / "missing"), ModelError),
    "log_error": (lambda e: h.log_error(), TypeError),
    "profiling": (lambda e: h.profiling("fast"), InvalidInputError),
    "record_error": (lambda e: h.record_error("boom"), InvalidInputError),
    "remove_error_callback": (lambda e: h.remove_error_callback(), TypeError),  # type: ignore[call-arg]
    "save_profile": (lambda e: h.save_profile(e.tmp / "p.json", format="svg"), InvalidInputError),
    "set_error_callback": (lambda e: h.set_error_callback(1), InvalidInputError),
    "set_log_file": (lambda e: h.set_log_file(""), InvalidInputError),
    "set_log_level": (lambda e: h.set_log_level("loud"), InvalidInputError),
    "set_memory_speed_tradeoff": (
        lambda e: h.set_memory_speed_tradeoff(h.MemoryOptimizer(), 2.0),
        InvalidInputError,
    ),
    "set_resource_limits": (lambda e: h.set_resource_limits("m", None), InvalidInputError),
    "shutdown": (lambda e: h.shutdown(1), TypeError),  # type: ignore[call-arg]
    "start_profiling": (lambda e: _running_profiler(h.start_profiling), PerformanceError),
    "stop_profiling": (lambda e: h.stop_profiling(), PerformanceError),
    "validate_inputs": (lambda e: h.validate_inputs(prompt=""), InvalidInputError),
    "verify_model": (lambda e: h.verify_model(123), TypeError),
    # --- config types: a bad field is an InvalidInputError (see the errors package doc) ---
    "CacheConfig": (lambda e: h.CacheConfig(block_size=0), InvalidInputError),
    "GenerationConfig": (lambda e: h.GenerationConfig(temperature=-1), InvalidInputError),
    "LogConfig": (lambda e: h.LogConfig(format="xml"), InvalidInputError),
    "LogRotationConfig": (lambda e: h.LogRotationConfig(max_files=0), InvalidInputError),
    "MemoryConfig": (lambda e: h.MemoryConfig(initial_pool_size=-1), InvalidInputError),
    "MemoryConfig.from_settings": (
        lambda e: h.MemoryConfig.from_settings(pool_max_mb=-1),
        InvalidInputError,
    ),
    "MemoryDebugConfig": (lambda e: h.MemoryDebugConfig(stack_depth=0), InvalidInputError),
    "MemoryOptimizerConfig": (
        lambda e: h.MemoryOptimizerConfig(memory_speed_tradeoff=2.0),
        InvalidInputError,
    ),
    "ProfilerConfig": (lambda e: h.ProfilerConfig(sample_interval_ms=0), InvalidInputError),
    "ResourceLimits": (lambda e: h.ResourceLimits(max_threads=0), InvalidInputError),
    # --- settings: a Settings field or an environment variable is a ConfigError ---
    "Settings": (lambda e: h.Settings(log_level="loud"), ConfigError),
    "Settings.from_env": (
        lambda e: h.Settings.from_env({"HYPERION_LOG_LEVEL": "loud"}),
        ConfigError,
    ),
    "Settings.replace": (lambda e: h.Settings().replace(log_level="loud"), ConfigError),
    "Settings.effective_log_file": (lambda e: h.Settings().effective_log_file(1), TypeError),
    "Settings.endpoint_for": (lambda e: h.Settings().endpoint_for("profiles"), InvalidInputError),
    "Settings.exporters_for": (lambda e: h.Settings().exporters_for("profiles"), InvalidInputError),
    "Settings.headers_for": (lambda e: h.Settings().headers_for("profiles"), InvalidInputError),
    "Settings.protocol_for": (lambda e: h.Settings().protocol_for("profiles"), InvalidInputError),
    "Settings.masked": (lambda e: h.Settings().masked(1), TypeError),
    "Settings.redact": (lambda e: h.Settings().redact(), TypeError),
    "Settings.secret_values": (lambda e: h.Settings().secret_values(1), TypeError),
    # --- objects and their methods ---
    "CleanupHandler": (lambda e: h.CleanupHandler(max_entries=0), InvalidInputError),
    "CleanupHandler.__enter__": (lambda e: h.CleanupHandler().__enter__(1), TypeError),
    "CleanupHandler.__exit__": (lambda e: h.CleanupHandler().__exit__(), TypeError),
    "CleanupHandler.add_cleanup": (
        lambda e: h.CleanupHandler(at_exit=False).add_cleanup(object(), "close"),
        InvalidInputError,
    ),
    "CleanupHandler.close": (lambda e: h.CleanupHandler().close(1), TypeError),
    "CleanupHandler.remove_cleanup": (lambda e: h.CleanupHandler().remove_cleanup(), TypeError),
    "MemoryPool": (lambda e: h.MemoryPool("x"), InvalidInputError),
    "MemoryPool.__enter__": (lambda e: e.pool.__enter__(1), TypeError),
    "MemoryPool.__exit__": (lambda e: e.pool.__exit__(bad=1), TypeError),
    "MemoryPool.allocate": (lambda e: e.pool.allocate((-1, 4)), InvalidInputError),
    "MemoryPool.free": (lambda e: e.pool.free("x"), InvalidInputError),
    "MemoryPool.cap_budget": (lambda e: e.pool.cap_budget(), TypeError),
    "MemoryPool.uncap_budget": (lambda e: e.pool.uncap_budget(), TypeError),
    "MemoryPool.check_corruption": (lambda e: e.pool.check_corruption(1), TypeError),
    "MemoryPool.close": (lambda e: e.pool.close(1), TypeError),
    "MemoryPool.open_window": (lambda e: e.pool.open_window(1), TypeError),
    "MemoryPool.close_window": (lambda e: e.pool.close_window(), TypeError),
    "MemoryPool.debug_info": (lambda e: e.pool.debug_info(1), TypeError),
    "MemoryPool.describe": (lambda e: e.pool.describe(), TypeError),
    "MemoryPool.find": (lambda e: e.pool.find(), TypeError),
    "MemoryPool.heap_stats": (lambda e: e.pool.heap_stats(1), TypeError),
    "MemoryPool.install": (lambda e: e.pool.install(1), TypeError),
    "MemoryPool.live_records": (lambda e: e.pool.live_records(1, 2), TypeError),
    "MemoryPool.set_tracking": (lambda e: e.pool.set_tracking(), TypeError),
    "MemoryOptimizer": (lambda e: h.MemoryOptimizer("fast"), InvalidInputError),
    "MemoryOptimizer.set_tradeoff": (
        lambda e: h.MemoryOptimizer().set_tradeoff(-1.0),
        InvalidInputError,
    ),
    "MemoryOptimizer.retained_bytes": (lambda e: h.MemoryOptimizer().retained_bytes(), TypeError),
    "Model": (lambda e: h.Model(), TypeError),
    "Model.forward": (lambda e: e.model.forward([]), InvalidInputError),
    "Model.generate": (lambda e: e.model.generate(""), InvalidInputError),
    "Model.stream": (lambda e: e.model.stream([]), InvalidInputError),
    "Model.check_ids": (lambda e: e.model.check_ids([-1], "ids"), InvalidInputError),
    "Model.new_cache": (lambda e: e.model.new_cache(1, 2), TypeError),
    "Model.run": (lambda e: e.model.run(), TypeError),
    "Model.work": (lambda e: e.model.work(1), TypeError),
    "Model.greedy_config": (lambda e: e.model.greedy_config(0), InvalidInputError),
    "GenerationStream": (lambda e: GenerationStream(e.model, "x", "hot"), InvalidInputError),
    "GenerationStream.__next__": (
        lambda e: next(GenerationStream(e.model, [10**6], None)),
        InvalidInputError,
    ),
    "GenerationStream.__enter__": (lambda e: e.model.stream("x").__enter__(1), TypeError),
    "GenerationStream.__exit__": (lambda e: e.model.stream("x").__exit__(bad=1), TypeError),
    "GenerationStream.close": (lambda e: e.model.stream("x").close(1), TypeError),
    "ProfilingBlock": (lambda e: ProfilingBlock("fast", None), InvalidInputError),
    "ProfilingBlock.__enter__": (
        lambda e: _running_profiler(h.profiling().__enter__),
        PerformanceError,
    ),
    "ProfilingBlock.__exit__": (lambda e: h.profiling().__exit__(bad=1), TypeError),
    "Profile": (lambda e: h.Profile(), TypeError),
    "Profile.hotspots": (lambda e: e.profile.hotspots(top=0), InvalidInputError),
    "Profile.samples_for": (lambda e: e.profile.samples_for(1), TypeError),
    "Profile.save": (lambda e: e.profile.save(e.tmp / "p.json", format="svg"), InvalidInputError),
    "Telemetry": (lambda e: h.Telemetry(), TypeError),
    "Telemetry.force_flush": (lambda e: h.Telemetry.force_flush(), TypeError),
    "Telemetry.shutdown": (lambda e: h.Telemetry.shutdown(), TypeError),
    "Telemetry.__enter__": (lambda e: h.Telemetry.__enter__(), TypeError),
    "Telemetry.__exit__": (lambda e: h.Telemetry.__exit__(), TypeError),
    # --- result records: built by the library, a wrong call is a TypeError ---
    "BottleneckReport": (lambda e: h.BottleneckReport(), TypeError),
    "BottleneckReport.to_table": (lambda e: h.BottleneckReport.to_table(), TypeError),
    "Generation": (lambda e: h.Generation(), TypeError),
    "HeapStats": (lambda e: h.HeapStats(bogus=1), TypeError),
    "HotspotReport": (lambda e: h.HotspotReport(bogus=1), TypeError),
    "HotspotReport.to_dict": (lambda e: h.HotspotReport().to_dict(1), TypeError),
    "MemoryDebugInfo": (lambda e: h.MemoryDebugInfo(bogus=1), TypeError),
    "MemoryLeakReport": (lambda e: h.MemoryLeakReport(bogus=1), TypeError),
    "MemoryLeakReport.format": (lambda e: h.MemoryLeakReport().format(1), TypeError),
    "ModelInfo": (lambda e: h.ModelInfo(), TypeError),
    "ModelVerification": (lambda e: h.ModelVerification(), TypeError),
    "ResourceUsage": (lambda e: h.ResourceUsage(), TypeError),
    "ShutdownReport": (lambda e: h.ShutdownReport(), TypeError),
    # --- hyperion_otel.api: the library API ---
    "api.op_span": (lambda e: api.op_span(""), InvalidInputError),
    # Each guards itself (no wrapper call): an arity error is the interpreter's, before
    # the body runs, so the bad calls are misuse the body can see.
    "api.op_span.__enter__": (lambda e: _entered(api.op_span("x")).__enter__(), InvalidInputError),
    "api.op_span.__exit__": (
        lambda e: api.op_span("x").__exit__(None, None, None),
        InvalidInputError,
    ),
    "api.record_allocation": (lambda e: api.record_allocation(-1), InvalidInputError),
    "api.record_tensor": (lambda e: api.record_tensor("", [1.0]), InvalidInputError),
    "api.traced_op": (lambda e: api.traced_op(len), InvalidInputError),  # type: ignore[arg-type]
    "api.traced_op()": (lambda e: api.traced_op("x")(42), InvalidInputError),  # type: ignore[arg-type]
    # --- hyperion_otel.testing: the test helpers ---
    "testing.create_test_context": (
        lambda e: ht.create_test_context(resource=["service.name"]),  # type: ignore[arg-type]
        InvalidInputError,
    ),
    "testing.configure_test_env": (lambda e: ht.configure_test_env("mock"), InvalidInputError),  # type: ignore[arg-type]
    "testing.TestConfig": (lambda e: ht.TestConfig(io_fault="flood"), InvalidInputError),  # type: ignore[arg-type]
    "testing.TestEnv": (lambda e: ht.TestEnv(ht.TestConfig(), "ctx"), InvalidInputError),  # type: ignore[arg-type]
    "testing.TestEnv.close": (lambda e: ht.TestEnv(ht.TestConfig(), None).close(1), TypeError),  # type: ignore[call-arg]
    "testing.TestEnv.__enter__": (
        lambda e: ht.TestEnv(ht.TestConfig(), None).__enter__(1),  # type: ignore[call-arg]
        TypeError,
    ),
    "testing.TestEnv.__exit__": (
        lambda e: ht.TestEnv(ht.TestConfig(), None).__exit__(),  # type: ignore[call-arg]
        TypeError,
    ),
    "testing.TestResult": (lambda e: ht.TestResult(), TypeError),  # type: ignore[call-arg]
    "testing.TestContext": (
        lambda e: ht.TestContext({"service.name": object()}),
        InvalidInputError,
    ),
    "testing.TestContext.__enter__": (lambda e: ht.TestContext().__enter__(1), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.__exit__": (lambda e: ht.TestContext().__exit__(), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.add_test": (
        lambda e: ht.TestContext().add_test("t", "not callable"),  # type: ignore[arg-type]
        InvalidInputError,
    ),
    "testing.TestContext.children_of": (
        lambda e: ht.TestContext().children_of("root"),  # type: ignore[arg-type]
        InvalidInputError,
    ),
    "testing.TestContext.clear": (lambda e: ht.TestContext().clear(1), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.close": (lambda e: ht.TestContext().close(1), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.inject_exporter_fault": (
        lambda e: ht.TestContext().inject_exporter_fault("flaky"),  # type: ignore[arg-type]
        InvalidInputError,
    ),
    "testing.TestContext.logs_where": (lambda e: ht.TestContext().logs_where(1), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.metric_points": (
        lambda e: ht.TestContext().metric_points(""),
        InvalidInputError,
    ),
    "testing.TestContext.metric_total": (
        lambda e: ht.TestContext().metric_total(None),  # type: ignore[arg-type]
        InvalidInputError,
    ),
    "testing.TestContext.run": (lambda e: ht.TestContext().run(1), TypeError),  # type: ignore[call-arg]
    "testing.TestContext.span": (lambda e: ht.TestContext().span(1), InvalidInputError),  # type: ignore[arg-type]
    "testing.TestContext.spans_named": (
        lambda e: ht.TestContext().spans_named(""),
        InvalidInputError,
    ),
    "testing.FailingAllocator": (
        lambda e: ht.FailingAllocator(_allocator.get_allocator(), budget_bytes=-1),
        InvalidInputError,
    ),
    "testing.FailingAllocator.allocate": (
        lambda e: ht.FailingAllocator(_allocator.get_allocator()).allocate((2, -3)),
        InvalidInputError,
    ),
    "testing.FailingAllocator.free": (
        lambda e: ht.FailingAllocator(_allocator.get_allocator()).free(),  # type: ignore[call-arg]
        TypeError,
    ),
    "testing.allocation_failures": (
        lambda e: ht.allocation_failures(fail_after=-1),
        InvalidInputError,
    ),
    "testing.allocation_failures.__enter__": (
        lambda e: ht.allocation_failures().__enter__(1),  # type: ignore[call-arg]
        TypeError,
    ),
    "testing.allocation_failures.__exit__": (
        lambda e: ht.allocation_failures().__exit__(),  # type: ignore[call-arg]
        TypeError,
    ),
    "testing.io_fault": (lambda e: ht.io_fault("flood", e.tmp), InvalidInputError),  # type: ignore[arg-type]
    "testing.io_fault.__enter__": (
        lambda e: ht.io_fault("disk_full", e.tmp).__enter__(1),
        TypeError,
    ),  # type: ignore[call-arg]
    "testing.io_fault.__exit__": (lambda e: ht.io_fault("disk_full", e.tmp).__exit__(), TypeError),  # type: ignore[call-arg]
}


def test_every_public_callable_has_a_row_and_the_boundary() -> None:
    found = public_callables()
    assert sorted(set(found) - set(BAD_CALLS)) == [], "public callables without a bad call"
    assert sorted(set(BAD_CALLS) - set(found)) == [], "rows for callables that are gone"
    missing = sorted(name for name, obj in found.items() if not has_boundary(obj))
    missing += sorted(
        f"{name}.__init__"
        for name, cls in _public_classes().items()
        if inspect.isfunction(cls.__init__) and not has_boundary(cls.__init__)
    )
    assert missing == [], "public callables without @hyperion_otel.errors.public"


def _error_count(ctx: Any) -> float:
    return ctx.metric_total(semconv.METRIC_ERRORS)


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_a_bad_call_is_recorded_once_with_all_five_effects(name: str, env: Env) -> None:
    call, expected = BAD_CALLS[name]
    seen: list[HyperionError] = []
    h.set_error_callback(seen.append)
    try:
        with create_test_context() as ctx:
            tracer = trace.get_tracer("test")
            with (
                pytest.raises(expected) as info,
                tracer.start_as_current_span(
                    "caller", record_exception=False, set_status_on_exception=False
                ),
            ):
                call(env)
            exc = info.value
            counted = ctx.metric_points(semconv.METRIC_ERRORS)
            logs = [r for r in ctx.logs if (r.log_record.attributes or {}).get("exception.type")]
            caller = ctx.span("caller")
    finally:
        h.remove_error_callback(seen.append)
    recorded = h.get_last_error()
    # 1. the thread's last error is this exception (or wraps it, for a non-Hyperion one)
    assert recorded is not None
    assert recorded is exc or recorded.__cause__ is exc, (recorded, exc)
    # 2. the callback saw it, once
    assert seen == [recorded]
    # 3. hyperion.errors counted it once, with its error.type
    assert sum(p.value for p in counted) == 1
    assert [p.attributes[semconv.ERROR_TYPE] for p in counted] == [qualified_name(type(exc))]
    # 4. one exception log record
    assert len(logs) == 1
    assert logs[0].log_record.attributes["exception.type"] == qualified_name(type(exc))
    # 5. the caller's span is marked ERROR
    assert caller.status.status_code is StatusCode.ERROR


def test_a_public_call_inside_another_records_once(env: Env) -> None:
    """``save_profile`` calls ``Profile.save``; ``Model.generate`` runs ``MemoryPool`` and
    ``check_ids``: each error is counted, called back and logged once."""
    seen: list[HyperionError] = []
    h.set_error_callback(seen.append)
    try:
        with create_test_context() as ctx:
            h.start_profiling()
            try:
                with pytest.raises(InvalidInputError):
                    h.save_profile(env.tmp / "p.json", format="svg")
            finally:
                h.stop_profiling()
            with pytest.raises(InvalidInputError):
                env.model.generate([10**6])
            assert _error_count(ctx) == 2
    finally:
        h.remove_error_callback(seen.append)
    assert len(seen) == 2


def test_an_error_caught_inside_a_public_call_is_not_recorded() -> None:
    """Only the outermost public call records: what it catches was never the caller's."""

    @public
    def lenient(level: str) -> str:
        try:
            h.set_log_level(level)
        except InvalidInputError:
            return "ignored"
        return "set"

    with create_test_context() as ctx:
        assert lenient("loud") == "ignored"
        assert not h.verify_model("no-such-model").ok  # reported, not raised
        assert _error_count(ctx) == 0
    assert h.get_last_error() is None


def test_the_error_type_rule_holds_for_every_config_type() -> None:
    """A bad field of a config object is an InvalidInputError; of Settings, a ConfigError."""
    for name, cls in _public_classes().items():
        if hasattr(cls, "__post_init__"):
            expected = ConfigError if cls is h.Settings else InvalidInputError
            assert BAD_CALLS[name][1] is expected, name
    assert not issubclass(ConfigError, InvalidInputError)
    assert not issubclass(InvalidInputError, ConfigError)


def test_a_stream_that_ends_records_nothing(env: Env) -> None:
    with create_test_context() as ctx:
        tokens = list(env.model.stream("x", h.GenerationConfig(max_new_tokens=2)))
        assert 1 <= len(tokens) <= 2
        assert _error_count(ctx) == 0
    assert h.get_last_error() is None


def test_public_refuses_a_generator_function() -> None:
    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        public(gen)
