"""The public face: every contract name resolves from `hyperion_otel`, lazily."""

from __future__ import annotations

import subprocess
import sys

import hyperion_otel

CONTRACT = """
configure shutdown Settings
LogLevel set_log_level LogOutput configure_logging set_log_file LogCategory
enable_memory_logging enable_performance_logging enable_model_logging LogFormat LogConfig
configure_structured_logging LogRotationConfig configure_log_rotation get_logger log_error
MemoryConfig init_memory MemoryPool MemoryDebugConfig enable_memory_debug get_memory_debug_info
MemoryDebugInfo MemoryOptimizerConfig configure_memory_optimizer set_memory_speed_tradeoff
check_memory_leaks MemoryLeakReport enable_stack_traces get_allocation_trace get_heap_stats
HeapStats check_memory_corruption
ProfilerConfig init_profiler start_profiling stop_profiling save_profile profiling
enable_hotspot_detection get_hotspots HotspotReport analyze_bottlenecks BottleneckReport Profile
ErrorType HyperionError HyperionMemoryError PerformanceError ModelError InvalidInputError
HyperionIOError ConfigError ResourceLimitError set_error_callback get_last_error
get_error_string validate_inputs
ResourceLimits set_resource_limits get_resource_usage ResourceUsage
CleanupHandler
load_model Model verify_model ModelVerification get_model_info ModelInfo GenerationConfig
Generation enable_generation_debug SimdOp enable_simd CacheConfig configure_cache_optimization
""".split()


def test_every_contract_name_is_exported_and_resolves() -> None:
    missing = [n for n in CONTRACT if n not in hyperion_otel.__all__]
    assert not missing
    for name in hyperion_otel.__all__:
        assert getattr(hyperion_otel, name) is not None, name


def test_all_matches_the_export_table() -> None:
    assert set(hyperion_otel.__all__) == {"__version__", *hyperion_otel._EXPORTS}


def test_runtime_names_also_from_runtime_and_testing_names_from_testing() -> None:
    import hyperion_otel.runtime as rt
    import hyperion_otel.testing as testing

    for name in (
        "load_model",
        "Model",
        "GenerationConfig",
        "verify_model",
        "SimdOp",
        "CacheConfig",
    ):
        assert getattr(rt, name) is getattr(hyperion_otel, name)
    for name in ("create_test_context", "TestContext", "TestConfig", "configure_test_env"):
        assert hasattr(testing, name)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        hyperion_otel.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_lazy() -> None:
    code = "import sys, hyperion_otel; print(sorted(m for m in ('numpy', 'opentelemetry.sdk', 'hyperion_otel.runtime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
