"""Test helpers: capture telemetry in memory, inject faults, run the guide's test lists.

``create_test_context()`` installs isolated in-memory providers and restores the previous
ones on exit; ``configure_test_env(TestConfig(...))`` fakes memory pressure and I/O
faults; the pytest plugin offers the ``hyperion_telemetry`` fixture.
"""

from __future__ import annotations

from hyperion_otel.testing._context import (
    ExporterFault,
    TestContext,
    TestResult,
    create_test_context,
)
from hyperion_otel.testing._env import TestConfig, TestEnv, configure_test_env
from hyperion_otel.testing.faults import FailingAllocator, allocation_failures, io_fault

__all__ = [
    "ExporterFault",
    "FailingAllocator",
    "TestConfig",
    "TestContext",
    "TestEnv",
    "TestResult",
    "allocation_failures",
    "configure_test_env",
    "create_test_context",
    "io_fault",
]
