"""Fixtures of the reliability tests: pristine OTel globals, configure() always undone."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import hyperion_otel.sdk as sdk


@pytest.fixture(autouse=True)
def _clean_globals(reset_otel_globals: Any) -> Iterator[None]:
    yield
    sdk.shutdown()


@pytest.fixture
def hyperion_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog that sees WARNING records of the ``hyperion`` logger."""
    caplog.set_level(logging.WARNING, logger="hyperion")
    yield caplog
