"""Fixtures of the security tests: pristine OTel globals, configure() always undone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import hyperion_otel.sdk as sdk


@pytest.fixture(autouse=True)
def _clean_globals(reset_otel_globals: Any) -> Iterator[None]:
    yield
    sdk.shutdown()
