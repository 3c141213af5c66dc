"""hyperion-otel: OpenTelemetry-native debugging and observability for model inference.

The public contract is re-exported here and nothing else; ``_EXPORTS`` lists it once. Names are
resolved on first use (PEP 562), so ``import hyperion_otel`` loads neither numpy, the
runtime nor the OTel SDK, and has no side effects: no thread, no file, no global
provider. A library that only uses ``hyperion_otel.api`` never pays for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hyperion_otel._version import __version__

if TYPE_CHECKING:
    # Explicit re-exports for type checkers; a test holds them equal to _EXPORTS.
    from hyperion_otel.cleanup import CleanupHandler as CleanupHandler
    from hyperion_otel.errors import (
        ConfigError as ConfigError,
        ErrorType as ErrorType,
        HyperionError as HyperionError,
        HyperionIOError as HyperionIOError,
        HyperionMemoryError as HyperionMemoryError,
        InvalidInputError as InvalidInputError,
        ModelError as ModelError,
        PerformanceError as PerformanceError,
        ResourceLimitError as ResourceLimitError,
        clear_last_error as clear_last_error,
        get_error_string as get_error_string,
        get_last_error as get_last_error,
        record_error as record_error,
        remove_error_callback as remove_error_callback,
        set_error_callback as set_error_callback,
    )
    from hyperion_otel.logging import (
        LogCategory as LogCategory,
        LogConfig as LogConfig,
        LogFormat as LogFormat,
        LogLevel as LogLevel,
        LogOutput as LogOutput,
        LogRotationConfig as LogRotationConfig,
        configure_log_rotation as configure_log_rotation,
        configure_logging as configure_logging,
        configure_structured_logging as configure_structured_logging,
        enable_memory_logging as enable_memory_logging,
        enable_model_logging as enable_model_logging,
        enable_performance_logging as enable_performance_logging,
        get_logger as get_logger,
        log_error as log_error,
        set_log_file as set_log_file,
        set_log_level as set_log_level,
    )
    from hyperion_otel.memory import (
        HeapStats as HeapStats,
        MemoryConfig as MemoryConfig,
        MemoryDebugConfig as MemoryDebugConfig,
        MemoryDebugInfo as MemoryDebugInfo,
        MemoryLeakReport as MemoryLeakReport,
        MemoryOptimizer as MemoryOptimizer,
        MemoryOptimizerConfig as MemoryOptimizerConfig,
        MemoryPool as MemoryPool,
        check_memory_corruption as check_memory_corruption,
        check_memory_leaks as check_memory_leaks,
        configure_memory_optimizer as configure_memory_optimizer,
        enable_memory_debug as enable_memory_debug,
        enable_stack_traces as enable_stack_traces,
        get_allocation_trace as get_allocation_trace,
        get_heap_stats as get_heap_stats,
        get_memory_debug_info as get_memory_debug_info,
        init_memory as init_memory,
        set_memory_speed_tradeoff as set_memory_speed_tradeoff,
    )
    from hyperion_otel.profiler import (
        BottleneckReport as BottleneckReport,
        HotspotReport as HotspotReport,
        Profile as Profile,
        ProfilerConfig as ProfilerConfig,
        analyze_bottlenecks as analyze_bottlenecks,
        enable_hotspot_detection as enable_hotspot_detection,
        get_hotspots as get_hotspots,
        init_profiler as init_profiler,
        profiling as profiling,
        save_profile as save_profile,
        start_profiling as start_profiling,
        stop_profiling as stop_profiling,
    )
    from hyperion_otel.resources import (
        ResourceLimits as ResourceLimits,
        ResourceUsage as ResourceUsage,
        get_resource_usage as get_resource_usage,
        set_resource_limits as set_resource_limits,
    )
    from hyperion_otel.runtime import (
        CacheConfig as CacheConfig,
        Generation as Generation,
        GenerationConfig as GenerationConfig,
        Model as Model,
        ModelInfo as ModelInfo,
        ModelVerification as ModelVerification,
        SimdOp as SimdOp,
        configure_cache_optimization as configure_cache_optimization,
        enable_generation_debug as enable_generation_debug,
        enable_simd as enable_simd,
        get_model_info as get_model_info,
        load_model as load_model,
        verify_model as verify_model,
    )
    from hyperion_otel.sdk import (
        ShutdownReport as ShutdownReport,
        Telemetry as Telemetry,
        configure as configure,
        shutdown as shutdown,
    )
    from hyperion_otel.settings import Settings as Settings
    from hyperion_otel.validation import validate_inputs as validate_inputs

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

__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 (type checkers read the re-exports above)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperion_otel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
