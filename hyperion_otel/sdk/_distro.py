"""Entry points for ``opentelemetry-instrument``: our distro and configurator.

``opentelemetry-instrument python app.py`` loads one ``opentelemetry_distro`` and one
``opentelemetry_configurator`` entry point (``OTEL_PYTHON_DISTRO`` /
``OTEL_PYTHON_CONFIGURATOR`` choose by name, here ``hyperion``), then every
``opentelemetry_instrumentor``. Our configurator runs ``configure()``, so the SDK and every
``HYPERION_*`` facility come up from the environment with no code change.
"""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from hyperion_otel.errors import HyperionError

__all__ = ["HyperionConfigurator", "HyperionDistro"]


class HyperionDistro(BaseDistro):  # type: ignore[misc]
    """Sets nothing: our settings already default to local files, or OTLP with an endpoint."""

    def _configure(self, **kwargs: Any) -> None:
        return None


class HyperionConfigurator:
    """Calls ``hyperion_otel.sdk.configure()`` from the environment.

    ``opentelemetry-instrument`` loads the ``opentelemetry_configurator`` entry point and
    calls ``configure(**kwargs)`` on an instance; the SDK's ``_BaseConfigurator`` (private)
    adds only a singleton, and ``configure()`` is idempotent already.
    """

    def configure(self, **kwargs: Any) -> None:
        from hyperion_otel import sdk

        try:
            sdk.configure()
        except HyperionError as exc:
            # A bad variable must not stop the application: say why telemetry is off.
            print(f"hyperion-otel: telemetry not configured: {exc}", file=sys.stderr)
