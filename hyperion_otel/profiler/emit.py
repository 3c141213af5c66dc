"""The profiler's own telemetry: the session span and the hotspot log record.

Both go through the telemetry face (OTel API only) and never raise: a profiler that
cannot report still profiles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.profiler.hotspots import HotspotReport

__all__ = ["LOGGER_NAME", "end_session_span", "log_hotspots", "start_session_span"]

LOGGER_NAME = "hyperion.performance"
LOG_TOP = 5

_log = logging.getLogger(LOGGER_NAME)


def start_session_span(profile_id: str, interval_ms: float) -> trace.Span:
    try:
        return _telemetry.tracer().start_span(
            semconv.SPAN_PROFILE,
            attributes={
                semconv.HYPERION_PROFILE_ID: profile_id,
                semconv.HYPERION_PROFILE_INTERVAL_MS: float(interval_ms),
            },
        )
    except Exception:  # noqa: BLE001 - telemetry must never stop profiling
        return trace.INVALID_SPAN


def end_session_span(span: trace.Span, samples: int, ops: int, dropped: int) -> None:
    try:
        span.set_attribute(semconv.HYPERION_PROFILE_SAMPLES, samples)
        span.set_attribute(semconv.HYPERION_PROFILE_OPS, ops)
        span.set_attribute(semconv.HYPERION_PROFILE_DROPPED, dropped)
        span.end()
    except Exception:  # noqa: BLE001
        return


def log_hotspots(span: trace.Span, hotspots: Callable[[int], HotspotReport], top: int) -> None:
    """One INFO record on ``hyperion.performance`` summarising the top hotspots.

    It goes through stdlib logging so the logging facility's category switch
    (``enable_performance_logging``) and outputs (console, file, OTLP bridge) apply;
    it is logged inside the session span so the OTLP bridge ties it to that span.
    """
    try:
        if not _log.isEnabledFor(logging.INFO):
            return
        report = hotspots(top)
        best = report.hotspots[:LOG_TOP]
        summary = "; ".join(f"{h.name} {h.percent:.1f}% ({h.file}:{h.line})" for h in best)
        message = "profile %s hotspots: %s" if best else "profile %s: no samples collected%s"
        extra: dict[str, object] = {
            semconv.HYPERION_PROFILE_ID: report.profile_id,
            semconv.HYPERION_PROFILE_SAMPLES: report.sample_count,
            semconv.LOG_EVENT_NAME_FIELD: semconv.EVENT_PROFILE_HOTSPOTS,
        }
        if best:
            extra[semconv.CODE_FUNCTION_NAME] = best[0].name
            extra[semconv.CODE_FILE_PATH] = best[0].file
            extra[semconv.CODE_LINE_NUMBER] = best[0].line
            extra[semconv.HYPERION_PROFILE_HOTSPOT_PERCENT] = round(best[0].percent, 2)
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            _log.info(message, report.profile_id, summary, extra=extra)
    except Exception:  # noqa: BLE001
        return
