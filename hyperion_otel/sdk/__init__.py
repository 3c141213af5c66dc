"""The only code that builds OpenTelemetry SDK objects.

``configure()``/``shutdown()`` and the pipelines behind them (exporters to OTLP gRPC/HTTP,
the console and local OTLP-JSON files), the snapshot of the globals they replace, the
rate limit on the SDK's own log lines, and the entry points that ``opentelemetry-instrument``
loads (distro, configurator, instrumentor). Facilities and the runtime never import this
package: they speak the OTel API through ``hyperion_otel._seams``.
"""

from __future__ import annotations

from hyperion_otel.sdk._configure import (
    ShutdownReport,
    Telemetry,
    build_resource,
    configure,
    get_telemetry,
    shutdown,
)

__all__ = [
    "ShutdownReport",
    "Telemetry",
    "build_resource",
    "configure",
    "get_telemetry",
    "shutdown",
]
