"""Save and restore the OTel API's global providers.

The OTel API lets a global provider be set only once per process. ``configure()`` must be
undoable (``shutdown()`` leaves the process as it found it) and the test context must
isolate tests, so both snapshot the API's module globals and put them back. These are
private attributes of opentelemetry-api (the same ones opentelemetry-test-utils resets);
the snapshot records them by name so a change in the API fails loudly in our tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import opentelemetry.trace as _trace_module
from opentelemetry._logs import _internal as _logs_internal
from opentelemetry.metrics import _internal as _metrics_internal
from opentelemetry.util._once import Once

__all__ = ["GlobalsSnapshot", "snapshot"]

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
