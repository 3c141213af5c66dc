"""hyperion-otel: OpenTelemetry-native debugging and observability for model inference.

Importing this package has no side effects: no thread, no file, no global provider.
The public contract (see DESIGN) is re-exported here and nothing else.
"""

from __future__ import annotations

from hyperion_otel._version import __version__
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
    get_error_string,
)

__all__ = [
    "ConfigError",
    "ErrorType",
    "HyperionError",
    "HyperionIOError",
    "HyperionMemoryError",
    "InvalidInputError",
    "ModelError",
    "PerformanceError",
    "ResourceLimitError",
    "__version__",
    "get_error_string",
]
