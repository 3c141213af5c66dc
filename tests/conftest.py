"""Suite-wide fixtures: a real OTLP receiver and a reset of the OTel global providers.

Subdirectories add their own conftest.py; keep this one small.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator

import pytest

from otlp_receiver import OTLPReceiver


@pytest.fixture(autouse=True)
def _hyperion_output_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a test configures writes its local telemetry under a temp dir, not the cwd."""
    monkeypatch.setenv("HYPERION_OUTPUT_DIR", str(tmp_path_factory.mktemp("hyperion-output")))


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started OTLPReceiver (gRPC + HTTP on 127.0.0.1), stopped after the test."""
    with OTLPReceiver() as rx:
        yield rx


def _reset_otel_globals() -> None:
    """Forget the global tracer/meter/logger providers so the next ``set_*`` takes effect.

    Providers are not shut down here; whoever installed one owns its shutdown.
    """
    from hyperion_otel._seams import otel_private, telemetry as _telemetry

    otel_private.reset()
    _telemetry.refresh()


@pytest.fixture
def reset_otel_globals() -> Iterator[Callable[[], None]]:
    """Pristine OTel globals before and after the test; yields the reset for mid-test use."""
    _reset_otel_globals()
    yield _reset_otel_globals
    _reset_otel_globals()


_handler_loggers = itertools.count()


@pytest.fixture
def attach() -> Iterator[Callable[[logging.Handler], logging.Logger]]:
    """Attach a handler to a fresh, non-propagating logger; detach and close it after."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def _attach(handler: logging.Handler) -> logging.Logger:
        lg = logging.getLogger(f"hyperion-tests.handler.{next(_handler_loggers)}")
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
        lg.addHandler(handler)
        made.append((lg, handler))
        return lg

    yield _attach
    for lg, h in made:
        lg.removeHandler(h)
        h.close()
