"""``HyperionInstrumentor``: turns the ``HYPERION_*`` facilities on without code changes.

Registered under the ``opentelemetry_instrumentor`` entry point, so
``opentelemetry-instrument`` calls ``instrument()`` at start-up. The runtime is natively
instrumented, so there is nothing to patch: instrumenting means starting the facilities
(log bridge, memory pool and tracking, profiler, resource metrics) from the settings.
If ``configure()`` already started them (our configurator runs first), ``instrument()``
owns nothing and ``uninstrument()`` leaves them to ``shutdown()``. ``uninstrument()`` runs
exactly the undos of what ``instrument()`` started, so the two are inverses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

# mypy cannot see this class through the package (it reports attr-defined); it is there.
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from hyperion_otel import sdk
from hyperion_otel.sdk import _facilities
from hyperion_otel.settings import Settings

__all__ = ["HyperionInstrumentor"]


class HyperionInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def __init__(self) -> None:
        self._undos: list[Callable[[], None]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        """``settings=Settings(...)`` may be passed; default: the environment."""
        if sdk.get_telemetry() is not None:
            return
        settings = kwargs.get("settings")
        if not isinstance(settings, Settings):
            settings = Settings.from_env()
        self._undos = _facilities.apply(settings)

    def _uninstrument(self, **kwargs: Any) -> None:
        undos, self._undos = self._undos, []
        for undo in reversed(undos):
            undo()
