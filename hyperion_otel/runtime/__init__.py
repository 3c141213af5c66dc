"""The numpy model runtime: GPT-2 and Llama checkpoints, paged KV cache, sampling.

Natively instrumented through ``hyperion_otel._seams.telemetry`` (OTel API only).
"""

from __future__ import annotations

from hyperion_otel.runtime.config import ArchConfig, SizeLimits
from hyperion_otel.runtime.generate import (
    CacheStats,
    Generation,
    GenerationConfig,
    GenerationStream,
    StreamToken,
    Timings,
    Usage,
    enable_generation_debug,
)
from hyperion_otel.runtime.kv_cache import CacheConfig
from hyperion_otel.runtime.loader import load_model
from hyperion_otel.runtime.model import Model, configure_cache_optimization
from hyperion_otel.runtime.simd import SimdOp, enable_simd
from hyperion_otel.runtime.verify import ModelInfo, ModelVerification, get_model_info, verify_model

__all__ = [
    "ArchConfig",
    "CacheConfig",
    "CacheStats",
    "Generation",
    "GenerationConfig",
    "GenerationStream",
    "Model",
    "ModelInfo",
    "ModelVerification",
    "SimdOp",
    "SizeLimits",
    "StreamToken",
    "Timings",
    "Usage",
    "configure_cache_optimization",
    "enable_generation_debug",
    "enable_simd",
    "get_model_info",
    "load_model",
    "verify_model",
]
