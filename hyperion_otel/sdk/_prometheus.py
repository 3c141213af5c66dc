"""``OTEL_METRICS_EXPORTER=prometheus``: a scrape endpoint, as the OTel Python SDK offers it.

The reader is ``opentelemetry-exporter-prometheus``'s (the ``prometheus`` extra). Unlike its
auto-configured variant, each ``configure()`` gets a registry of its own and the HTTP
server it started is stopped by ``shutdown()``: nothing stays registered or listening.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperion_otel.errors import ConfigError, HyperionIOError
from hyperion_otel.settings import Settings

__all__ = ["PrometheusEndpoint", "start_prometheus"]


class PrometheusEndpoint:
    """The reader to give the MeterProvider, where it serves, and the undo."""

    def __init__(self, reader: Any, host: str, port: int, stop: Callable[[], None]) -> None:
        self.reader = reader
        self.host = host
        self.port = port
        self.stop = stop

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


def start_prometheus(settings: Settings) -> PrometheusEndpoint:
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ConfigError(
            "OTEL_METRICS_EXPORTER=prometheus needs opentelemetry-exporter-prometheus: "
            "pip install 'hyperion-otel[prometheus]'",
            variable="OTEL_METRICS_EXPORTER",
        ) from None
    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(registry=registry)
    try:
        server, thread = start_http_server(
            settings.prometheus_port, addr=settings.prometheus_host, registry=registry
        )
    except OSError as exc:
        raise HyperionIOError(
            f"cannot serve Prometheus metrics on {settings.prometheus_host}:"
            f"{settings.prometheus_port}: {exc.strerror or exc} (set "
            "OTEL_EXPORTER_PROMETHEUS_PORT to a free port, or 0 for any)",
            host=settings.prometheus_host,
            port=settings.prometheus_port,
        ) from exc

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)

    port = int(server.server_address[1])
    return PrometheusEndpoint(reader, settings.prometheus_host, port, stop)
