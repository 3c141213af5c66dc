"""Fixtures of the logging tests: every test leaves the logging tree exactly as found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from logging_helpers import logger_state

import hyperion_otel.logging as hl
from hyperion_otel.logging import _faults


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    before = logger_state()
    _faults.reset_faults()
    old_interval = _faults.set_warn_interval(60.0)
    yield
    hl.shutdown_logging()
    _faults.set_warn_interval(old_interval)
    assert logger_state() == before, "the logging tree was not left as found"
