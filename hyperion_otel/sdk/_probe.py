"""The doctor's test items: one span, one metric point and one log record, built as SDK data
objects (``ReadableSpan``, ``MetricsData``, ``ReadableLogRecord``) to hand straight to a raw
exporter, so that no provider is installed and nothing global changes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from hyperion_otel import semconv
from hyperion_otel._version import __version__
from hyperion_otel.sdk._configure import build_resource
from hyperion_otel.settings import Settings

__all__ = ["probe_items"]


def probe_items(settings: Settings, run_id: str) -> dict[str, Callable[[Any], Any]]:
    """Per signal: a function that exports one test item with the given exporter."""
    resource = build_resource(settings)
    scope = InstrumentationScope(semconv.SCOPE_NAME, __version__)
    attrs = {semconv.HYPERION_DOCTOR_RUN_ID: run_id}
    now = time.time_ns()
    trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1

    def span(exporter: Any) -> Any:
        ctx = SpanContext(trace_id, span_id, False, TraceFlags(TraceFlags.SAMPLED))
        item = ReadableSpan(
            semconv.SPAN_DOCTOR_PROBE,
            context=ctx,
            resource=resource,
            attributes=attrs,
            start_time=now - 1000,
            end_time=now,
            instrumentation_scope=scope,
        )
        return exporter.export([item])

    def metric(exporter: Any) -> Any:
        point = NumberDataPoint(
            attributes=attrs, start_time_unix_nano=now, time_unix_nano=now, value=1
        )
        data = MetricsData(
            [
                ResourceMetrics(
                    resource,
                    [
                        ScopeMetrics(
                            scope,
                            [
                                Metric(
                                    semconv.METRIC_DOCTOR_PROBE,
                                    "hyperion-otel doctor test point",
                                    "1",
                                    Gauge([point]),
                                )
                            ],
                            "",
                        )
                    ],
                    "",
                )
            ]
        )
        return exporter.export(data, timeout_millis=settings.otlp_timeout_s * 1000)

    def log(exporter: Any) -> Any:
        record = LogRecord(
            timestamp=now,
            observed_timestamp=now,
            trace_id=trace_id,
            span_id=span_id,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            severity_text="INFO",
            severity_number=SeverityNumber.INFO,
            body="hyperion-otel doctor test record",
            attributes=attrs,
        )
        return exporter.export([ReadableLogRecord(record, resource, scope)])

    return {"traces": span, "metrics": metric, "logs": log}
