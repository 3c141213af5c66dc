"""pytest plugin (entry point ``pytest11``): the ``hyperion_telemetry`` fixture.

def test_my_op(hyperion_telemetry):
    my_library.work()
    assert hyperion_telemetry.span("my_op").attributes["rows"] == 3
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hyperion_otel.testing._context import TestContext, create_test_context


@pytest.fixture
def hyperion_telemetry() -> Iterator[TestContext]:
    """Captures the test's spans, metrics and logs in memory; restores providers after."""
    with create_test_context() as ctx:
        yield ctx
