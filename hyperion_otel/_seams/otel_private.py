"""Every private name of OpenTelemetry that hyperion-otel uses, and only here.

opentelemetry-api/-sdk/-exporter-otlp are required as ``>=1.39`` without an upper bound,
so each private name below has a test of its own (``tests/foundation/test_otel_private.py``)
that fails loudly when a release moves it, and CI runs the suite on the newest release.

- The API's global providers (``_TRACER_PROVIDER``, ``_METER_PROVIDER``, ``_LOGGER_PROVIDER``,
  their set-once flags and proxies): the API lets a global provider be set only once per
  process, but ``configure()`` must be undoable and the test context must isolate tests, so
  both snapshot these module globals and put them back (opentelemetry-test-utils resets the
  same ones).
- ``trace._TRACER_PROVIDER`` read directly: ``get_tracer_provider()`` also consults
  ``os.environ`` on every call, which alone costs more than the library API's no-op path.
- ``metrics._internal._ProxyMeterProvider``: the API's proxy forwards instruments to the SDK
  provider set later; observables registered on it too would be registered twice.
- ``exporter.otlp.proto.common._log_encoder.encode_logs``: the OTLP log encoder (the
  trace and metric encoders are public; the log one is not yet). Imported on first use, so
  this module loads neither the SDK nor the exporter.
- The OTLP exporters' transports: the HTTP exporters send through ``_client._transport
  .request``, the gRPC ones through ``_client.Export`` and rebuild ``_client`` (in
  ``_initialize_channel_and_stub``) after UNAVAILABLE. Watching them is how a lost item is
  told apart as refused (the backend answered), failed (no answer) or unconfirmed.
- ``_update_resource`` of the SDK providers: after a fork the child's process attributes
  replace the parent's in the providers' resource (the SDK refreshes only the detectors
  it was configured with).
- ``context._SUPPRESS_INSTRUMENTATION_KEY``: the SDK sets it while a processor exports; the
  logging bridge reads it so that an exporter's own log lines do not loop back into export.
- ``_batch_processor._metrics`` of the SDK's batch span and log processors: its
  ``drop_items`` is the only place a queue-full or after-shutdown drop is seen, so the sdk
  layer puts a counter in front of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import opentelemetry.context as _context_module
import opentelemetry.trace as _trace_module
from opentelemetry._logs import _internal as _logs_internal
from opentelemetry.metrics import _internal as _metrics_internal
from opentelemetry.util._once import Once

__all__ = [
    "GlobalsSnapshot",
    "clear",
    "instrumentation_suppressed",
    "wrap_batch_metrics",
    "reset",
    "encode_logs",
    "update_provider_resource",
    "watch_exporter_requests",
    "is_proxy_meter_provider",
    "snapshot",
    "tracer_provider_is_set",
]


def tracer_provider_is_set() -> bool:
    """Whether a global tracer provider was set (an SDK, ours or the application's)."""
    return _trace_module._TRACER_PROVIDER is not None


def is_proxy_meter_provider(provider: object) -> bool:
    """Whether ``provider`` is the API's stand-in used before a real one is set."""
    return isinstance(provider, _metrics_internal._ProxyMeterProvider)


def encode_logs(batch: Sequence[Any]) -> Any:
    """``ExportLogsServiceRequest`` for SDK log records, as the OTLP exporters send it."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as encode

    return encode(batch)


_SIGNALS: dict[str, tuple[ModuleType, str, str, str]] = {
    "traces": (
        _trace_module,
        "_TRACER_PROVIDER",
        "_TRACER_PROVIDER_SET_ONCE",
        "_PROXY_TRACER_PROVIDER",
    ),
    "metrics": (
        _metrics_internal,
        "_METER_PROVIDER",
        "_METER_PROVIDER_SET_ONCE",
        "_PROXY_METER_PROVIDER",
    ),
    "logs": (
        _logs_internal,
        "_LOGGER_PROVIDER",
        "_LOGGER_PROVIDER_SET_ONCE",
        "_PROXY_LOGGER_PROVIDER",
    ),
}


_PROXY_TARGET = "_real_meter_provider"


@dataclass(frozen=True)
class GlobalsSnapshot:
    values: dict[str, tuple[Any, bool, Any, Any]]

    def restore(self, signals: tuple[str, ...] = ("traces", "metrics", "logs")) -> None:
        """Put back the providers of ``signals`` as they were when the snapshot was taken."""
        for signal in signals:
            module, provider_attr, once_attr, proxy_attr = _SIGNALS[signal]
            provider, was_set, proxy, proxy_target = self.values[signal]
            setattr(module, provider_attr, provider)
            once = Once()
            if was_set:
                once.do_once(lambda: None)
            setattr(module, once_attr, once)
            setattr(module, proxy_attr, proxy)
            if hasattr(proxy, _PROXY_TARGET):
                # The metrics proxy remembers the provider it forwarded to; forget ours.
                setattr(proxy, _PROXY_TARGET, proxy_target)


def snapshot() -> GlobalsSnapshot:
    values: dict[str, tuple[Any, bool, Any, Any]] = {}
    for signal, (module, provider_attr, once_attr, proxy_attr) in _SIGNALS.items():
        once: Once = getattr(module, once_attr)
        proxy = getattr(module, proxy_attr)
        values[signal] = (
            getattr(module, provider_attr),
            bool(once._done),
            proxy,
            getattr(proxy, _PROXY_TARGET, None),
        )
    return GlobalsSnapshot(values)


def clear(signals: tuple[str, ...] = ("traces", "metrics", "logs")) -> None:
    """Forget the global providers of ``signals`` so that new ones can be set."""
    for signal in signals:
        module, provider_attr, once_attr, _ = _SIGNALS[signal]
        setattr(module, provider_attr, None)
        setattr(module, once_attr, Once())


Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]


def watch_exporter_requests(exporter: Any, wrap_http: Wrapper, wrap_grpc: Wrapper) -> bool:
    """Route each request of an OTLP ``exporter`` through ``wrap_http``/``wrap_grpc``.

    Returns False (and changes nothing) for an exporter whose transport is not the one
    described in the module doc: the caller then cannot tell refused from failed.
    """
    transport = getattr(getattr(exporter, "_client", None), "_transport", None)
    if transport is not None and callable(getattr(transport, "request", None)):
        transport.request = wrap_http(transport.request)
        return True
    rebuild = getattr(exporter, "_initialize_channel_and_stub", None)
    if rebuild is None or getattr(exporter, "_client", None) is None:
        return False

    def wrap_stub() -> None:
        client = exporter._client
        if client is not None and callable(getattr(client, "Export", None)):
            client.Export = wrap_grpc(client.Export)

    def rebuilt() -> None:
        rebuild()
        wrap_stub()

    wrap_stub()
    exporter._initialize_channel_and_stub = rebuilt
    return True


def update_provider_resource(provider: Any, resource: Any) -> bool:
    """Merge ``resource`` into an SDK provider's resource; False if it cannot."""
    update = getattr(provider, "_update_resource", None)
    if update is None:
        return False
    update(resource)
    return True


_SUPPRESS_KEY = getattr(_context_module, "_SUPPRESS_INSTRUMENTATION_KEY", None)


def instrumentation_suppressed() -> bool:
    """Whether the current context asks not to instrument (an SDK processor is exporting)."""
    return _SUPPRESS_KEY is not None and bool(_context_module.get_value(_SUPPRESS_KEY))


def wrap_batch_metrics(processor: Any, wrap: Callable[[Any], Any]) -> bool:
    """Put ``wrap(metrics)`` in place of a batch processor's self-metrics object (whose
    ``drop_items(count, error_type)`` the SDK calls for each dropped item); False, changing
    nothing, when ``processor`` has none."""
    batch = getattr(processor, "_batch_processor", None)
    if batch is None or not hasattr(batch, "_metrics"):
        return False
    batch._metrics = wrap(batch._metrics)
    return True


def _fresh_proxy(signal: str) -> Any:
    if signal == "traces":
        return _trace_module.ProxyTracerProvider()
    if signal == "metrics":
        return _metrics_internal._ProxyMeterProvider()
    return _logs_internal.ProxyLoggerProvider()


def reset(signals: tuple[str, ...] = ("traces", "metrics", "logs")) -> None:
    """Pristine API globals: no provider, set-once flags cleared, fresh proxies.

    Fresh proxies too: the old metrics proxy keeps forwarding to the provider it was given,
    so keeping it would leak a previous SDK into ``get_meter()``. Providers are not shut
    down here; whoever installed one owns its shutdown.
    """
    clear(signals)
    for signal in signals:
        module, _, _, proxy_attr = _SIGNALS[signal]
        setattr(module, proxy_attr, _fresh_proxy(signal))
