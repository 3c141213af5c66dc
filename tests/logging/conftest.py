"""Fixtures of the logging tests: every test leaves the logging tree exactly as found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from logging_helpers import logger_state
from opentelemetry._logs import _internal as logs_internal

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


@pytest.fixture
def global_logger_provider() -> Iterator[object]:
    """Install a fresh SDK LoggerProvider globally for one test, then put back the old one.

    The OTel API allows setting the global provider only once per process, so the test
    resets its private once-flag and restores it afterwards.
    """
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    once = logs_internal._LOGGER_PROVIDER_SET_ONCE
    old_provider, old_done = logs_internal._LOGGER_PROVIDER, once._done
    logs_internal._LOGGER_PROVIDER, once._done = provider, True
    try:
        yield exporter
    finally:
        provider.shutdown()
        logs_internal._LOGGER_PROVIDER, once._done = old_provider, old_done
