"""Console output: readable text by default, JSON lines on request, to stderr."""

from __future__ import annotations

import logging as _stdlib_logging
import sys
from typing import TYPE_CHECKING, TextIO

from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._text import TextFormatter

__all__ = ["ConsoleHandler"]

if TYPE_CHECKING:
    _StreamHandler = _stdlib_logging.StreamHandler[TextIO]
else:
    _StreamHandler = _stdlib_logging.StreamHandler


class ConsoleHandler(_StreamHandler):
    """Writes each record as one ``write`` to ``stream``.

    With ``stream=None`` the handler writes to whatever ``sys.stderr`` is at that moment,
    so redirections made after configuration (pytest's capture, a notebook) are followed;
    ``.stream`` reads as that current stream, so code that looks for a stderr
    ``StreamHandler`` finds this one. A write error (closed stream, broken pipe) is
    counted, never raised.
    """

    def __init__(
        self, stream: TextIO | None = None, formatter: _stdlib_logging.Formatter | None = None
    ) -> None:
        super().__init__()
        self._fixed_stream = stream
        self.setFormatter(formatter or TextFormatter())

    @property
    def stream(self) -> TextIO:
        return self._fixed_stream or sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed_stream = value

    def emit(self, record: _stdlib_logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
        except Exception as exc:  # noqa: BLE001 - a record that cannot be formatted is dropped
            record_fault("format", exc, f"{record.pathname}:{record.lineno}")
            return
        stream = self.stream
        try:
            stream.write(text)
            stream.flush()
        except Exception as exc:  # noqa: BLE001 - the console going away must not stop the app
            record_fault("console", exc)

    def handleError(self, record: _stdlib_logging.LogRecord) -> None:  # noqa: N802
        record_fault("console", None)
