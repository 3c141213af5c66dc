"""hyperion-otel: OpenTelemetry-native debugging and observability for model inference.

The public contract (the names in ``__all__``) is re-exported here and nothing else. Names are
resolved on first use (PEP 562), so ``import hyperion_otel`` loads neither numpy, the
runtime nor the OTel SDK, and has no side effects: no thread, no file, no global
provider. A library that only uses ``hyperion_otel.api`` never pays for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hyperion_otel._version import __version__

if TYPE_CHECKING:
    from hyperion_otel.cleanup import CleanupHandler
    from hyperion_otel.errors import (
        ConfigError,
        ErrorType,
        HyperionError,
        HyperionIOError,
        HyperionMemoryError,
        InvalidInputError,
        ModelError,
        PerformanceError,
        ResourceLimitError,
        clear_last_error,
        get_error_string,
        get_last_error,
        record_error,
        remove_error_callback,
        set_error_callback,
    )
    from hyperion_otel.logging import (
        LogCategory,
        LogConfig,
        LogFormat,
        LogLevel,
        LogOutput,
        LogRotationConfig,
        configure_log_rotation,
        configure_logging,
        configure_structured_logging,
        enable_memory_logging,
        enable_model_logging,
        enable_performance_logging,
        get_logger,
        log_error,
        set_log_file,
        set_log_level,
    )
    from hyperion_otel.memory import (
        HeapStats,
        MemoryConfig,
        MemoryDebugConfig,
        MemoryDebugInfo,
        MemoryLeakReport,
        MemoryOptimizer,
        MemoryOptimizerConfig,
        MemoryPool,
        check_memory_corruption,
        check_memory_leaks,
        configure_memory_optimizer,
        enable_memory_debug,
        enable_stack_traces,
        get_allocation_trace,
        get_heap_stats,
        get_memory_debug_info,
        init_memory,
        set_memory_speed_tradeoff,
    )
    from hyperion_otel.profiler import (
        BottleneckReport,
        HotspotReport,
        Profile,
        ProfilerConfig,
        analyze_bottlenecks,
        enable_hotspot_detection,
        get_hotspots,
        init_profiler,
        profiling,
        save_profile,
        start_profiling,
        stop_profiling,
    )
    from hyperion_otel.resources import (
        ResourceLimits,
        ResourceUsage,
        get_resource_usage,
        set_resource_limits,
    )
    from hyperion_otel.runtime import (
        CacheConfig,
        Generation,
        GenerationConfig,
        Model,
        ModelInfo,
        ModelVerification,
        SimdOp,
        configure_cache_optimization,
        enable_generation_debug,
        enable_simd,
        get_model_info,
        load_model,
        verify_model,
    )
    from hyperion_otel.sdk import ShutdownReport, Telemetry, configure, shutdown
    from hyperion_otel.settings import Settings
    from hyperion_otel.validation import validate_inputs

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("configure", "shutdown", "Telemetry", "ShutdownReport"), "hyperion_otel.sdk"),
    "Settings": "hyperion_otel.settings",
    **dict.fromkeys(
        (
            "LogLevel",
            "set_log_level",
            "LogOutput",
            "configure_logging",
            "set_log_file",
            "LogCategory",
            "enable_memory_logging",
            "enable_performance_logging",
            "enable_model_logging",
            "LogFormat",
            "LogConfig",
            "configure_structured_logging",
            "LogRotationConfig",
            "configure_log_rotation",
            "get_logger",
            "log_error",
        ),
        "hyperion_otel.logging",
    ),
    **dict.fromkeys(
        (
            "MemoryConfig",
            "init_memory",
            "MemoryPool",
            "MemoryDebugConfig",
            "enable_memory_debug",
            "get_memory_debug_info",
            "MemoryDebugInfo",
            "MemoryOptimizerConfig",
            "configure_memory_optimizer",
            "MemoryOptimizer",
            "set_memory_speed_tradeoff",
            "check_memory_leaks",
            "MemoryLeakReport",
            "enable_stack_traces",
            "get_allocation_trace",
            "get_heap_stats",
            "HeapStats",
            "check_memory_corruption",
        ),
        "hyperion_otel.memory",
    ),
    **dict.fromkeys(
        (
            "ProfilerConfig",
            "init_profiler",
            "start_profiling",
            "stop_profiling",
            "Profile",
            "save_profile",
            "profiling",
            "enable_hotspot_detection",
            "get_hotspots",
            "HotspotReport",
            "analyze_bottlenecks",
            "BottleneckReport",
        ),
        "hyperion_otel.profiler",
    ),
    **dict.fromkeys(
        (
            "ErrorType",
            "HyperionError",
            "HyperionMemoryError",
            "PerformanceError",
            "ModelError",
            "InvalidInputError",
            "HyperionIOError",
            "ConfigError",
            "ResourceLimitError",
            "set_error_callback",
            "remove_error_callback",
            "get_last_error",
            "clear_last_error",
            "get_error_string",
            "record_error",
        ),
        "hyperion_otel.errors",
    ),
    "validate_inputs": "hyperion_otel.validation",
    **dict.fromkeys(
        ("ResourceLimits", "set_resource_limits", "get_resource_usage", "ResourceUsage"),
        "hyperion_otel.resources",
    ),
    "CleanupHandler": "hyperion_otel.cleanup",
    **dict.fromkeys(
        (
            "load_model",
            "Model",
            "verify_model",
            "ModelVerification",
            "get_model_info",
            "ModelInfo",
            "GenerationConfig",
            "Generation",
            "enable_generation_debug",
            "SimdOp",
            "enable_simd",
            "CacheConfig",
            "configure_cache_optimization",
        ),
        "hyperion_otel.runtime",
    ),
}

# Literal, so that type checkers see the re-exports; a test keeps it equal to _EXPORTS.
__all__ = [
    "__version__",
    "BottleneckReport",
    "CacheConfig",
    "CleanupHandler",
    "ConfigError",
    "ErrorType",
    "Generation",
    "GenerationConfig",
    "HeapStats",
    "HotspotReport",
    "HyperionError",
    "HyperionIOError",
    "HyperionMemoryError",
    "InvalidInputError",
    "LogCategory",
    "LogConfig",
    "LogFormat",
    "LogLevel",
    "LogOutput",
    "LogRotationConfig",
    "MemoryConfig",
    "MemoryDebugConfig",
    "MemoryDebugInfo",
    "MemoryLeakReport",
    "MemoryOptimizer",
    "MemoryOptimizerConfig",
    "MemoryPool",
    "Model",
    "ModelError",
    "ModelInfo",
    "ModelVerification",
    "PerformanceError",
    "Profile",
    "ProfilerConfig",
    "ResourceLimitError",
    "ResourceLimits",
    "ResourceUsage",
    "Settings",
    "ShutdownReport",
    "SimdOp",
    "Telemetry",
    "analyze_bottlenecks",
    "check_memory_corruption",
    "check_memory_leaks",
    "clear_last_error",
    "configure",
    "configure_cache_optimization",
    "configure_log_rotation",
    "configure_logging",
    "configure_memory_optimizer",
    "configure_structured_logging",
    "enable_generation_debug",
    "enable_hotspot_detection",
    "enable_memory_debug",
    "enable_memory_logging",
    "enable_model_logging",
    "enable_performance_logging",
    "enable_simd",
    "enable_stack_traces",
    "get_allocation_trace",
    "get_error_string",
    "get_heap_stats",
    "get_hotspots",
    "get_last_error",
    "get_logger",
    "get_memory_debug_info",
    "get_model_info",
    "get_resource_usage",
    "init_memory",
    "init_profiler",
    "load_model",
    "log_error",
    "profiling",
    "record_error",
    "remove_error_callback",
    "save_profile",
    "set_error_callback",
    "set_log_file",
    "set_log_level",
    "set_memory_speed_tradeoff",
    "set_resource_limits",
    "shutdown",
    "start_profiling",
    "stop_profiling",
    "validate_inputs",
    "verify_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperion_otel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
