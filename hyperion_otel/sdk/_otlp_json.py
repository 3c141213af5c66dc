"""Local OTLP-JSON files: the default exporter when no endpoint is configured.

One file per signal (``traces.jsonl``, ``metrics.jsonl``, ``logs.jsonl``), one OTLP export
request per line in the OTLP/JSON encoding (lowerCamelCase fields, hex trace and span
ids, enums as integers), which is what the Collector's ``otlpjsonfile`` receiver reads, so
a run can be replayed into a Collector later. Each file is bounded: past ``max_bytes`` it is
renamed to ``<name>.1`` (replacing an older one) and a new file is started.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from hyperion_otel._seams import otel_private
from hyperion_otel._seams.files import FILE_MODE, make_parent_dirs

__all__ = [
    "FILE_NAMES",
    "JsonLinesFile",
    "OTLPJsonLogExporter",
    "OTLPJsonMetricExporter",
    "OTLPJsonSpanExporter",
]

FILE_NAMES = {"traces": "traces.jsonl", "metrics": "metrics.jsonl", "logs": "logs.jsonl"}

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(node: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants ids in hex."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)
    return node


def to_otlp_json(message: Message) -> str:
    """One OTLP export request as a single line of OTLP/JSON."""
    as_dict = MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_hex_ids(as_dict), separators=(",", ":"), ensure_ascii=False)


class JsonLinesFile:
    """Append-only lines file with a size bound and one rotated copy; thread-safe."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        with self._lock:
            # Not world-writable whatever the umask: the files here hold telemetry.
            make_parent_dirs(self.path)
            try:
                size = os.path.getsize(self.path)
            except FileNotFoundError:
                size = 0
            if size and size + len(data) > self.max_bytes:
                os.replace(self.path, self.path + ".1")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


class _Base:
    def __init__(self, path: str, max_bytes: int) -> None:
        self.file = JsonLinesFile(path, max_bytes)
        self._shutdown = False

    def _write(self, encode: Callable[[], Message]) -> bool:
        if self._shutdown:
            return False
        self.file.append(to_otlp_json(encode()))
        return True


class OTLPJsonSpanExporter(_Base, SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._write(lambda: encode_spans(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class OTLPJsonLogExporter(_Base, LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._write(lambda: otel_private.encode_logs(batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class OTLPJsonMetricExporter(_Base, MetricExporter):
    def __init__(self, path: str, max_bytes: int) -> None:
        _Base.__init__(self, path, max_bytes)
        # Cumulative, as the OTLP exporters default to; a replayed file then shows totals.
        MetricExporter.__init__(self, preferred_temporality={}, preferred_aggregation={})

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        ok = self._write(lambda: encode_metrics(metrics_data))
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True
