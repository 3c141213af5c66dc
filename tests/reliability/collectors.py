"""Collectors that misbehave, and settings that point every signal at one.

``faulty_collector(fault, protocol)`` yields the endpoint of a real local collector in
one of the fault modes a collector shows in the wild. Each fault gets a fresh receiver:
hung requests keep receiver worker threads busy until ``stop()``, so one receiver must
never serve two conditions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from hyperion_otel.settings import Settings

from otlp_receiver import OTLPReceiver, closed_port

PROTOCOLS = ("grpc", "http/protobuf")

# fault name -> OTLPReceiver.set_fault arguments ("down" is a refused port instead).
FAULTS: dict[str, dict[str, Any]] = {
    "down": {},
    "hang": {"mode": "hang"},
    "slow": {"mode": "slow", "delay_s": 2.0},
    "503": {
        "mode": "status",
        "http_status": 503,
        "retry_after_s": 1.0,
        "grpc_status": grpc.StatusCode.UNAVAILABLE,
    },
    "429": {
        "mode": "status",
        "http_status": 429,
        "retry_after_s": 1.0,
        "grpc_status": grpc.StatusCode.RESOURCE_EXHAUSTED,
    },
    "reset": {"mode": "reset"},
    # gRPC UNAVAILABLE with no RetryInfo (HTTP: a bare 503 without Retry-After).
    "unavailable": {
        "mode": "status",
        "http_status": 503,
        "grpc_status": grpc.StatusCode.UNAVAILABLE,
    },
}


def endpoint_of(rx: OTLPReceiver, protocol: str) -> str:
    return rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint


@contextmanager
def faulty_collector(fault: str, protocol: str) -> Iterator[str]:
    """Endpoint (base URL) of a local collector showing ``fault``."""
    if fault == "down":
        with closed_port() as port:
            yield f"http://127.0.0.1:{port}"
        return
    options = dict(FAULTS[fault])
    mode = options.pop("mode")
    with OTLPReceiver() as rx:
        rx.set_fault(mode, **options)
        yield endpoint_of(rx, protocol)


def settings_for(endpoint: str, protocol: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Every signal to ``endpoint``; no console or file logging (tests read the `hyperion` logger)."""
    base: dict[str, Any] = {
        "otlp_endpoint": endpoint,
        "otlp_protocol": protocol,
        "output_dir": str(tmp_path),
        "log_outputs": (),
    }
    return Settings(**{**base, **overrides})


def warnings_matching(caplog: Any, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hyperion" and r.levelno >= logging.WARNING and text in r.getMessage()
    ]
