"""What the OTel SDK and its exporters may print while hyperion-otel is configured.

With a collector down, the SDK logs a line per failed batch and per dropped span
("Queue full, dropping spans", "Transient error ... retrying", "Shutdown in progress,
aborting retry"): many lines that bury the application's output, while ``shutdown()``
prints one summary of what was lost. So, on the SDK's and the exporters' loggers:

- below debug level (``HYPERION_LOG_LEVEL`` info and up) their lines are dropped: the
  summary and ``hyperion.telemetry.dropped`` carry the loss;
- at debug or trace level each distinct message passes once a minute, saying how many
  were suppressed;
- every line that passes has the settings' secrets (header values, URL credentials)
  replaced by ``***``, in the message and in its formatted traceback.

``install()`` returns its undo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OTelLogRateLimit"]

_PREFIXES = ("opentelemetry.sdk", "opentelemetry.exporter")


def _no_redaction(text: str) -> str:
    return text


class OTelLogRateLimit(logging.Filter):
    def __init__(
        self,
        interval_s: float = 60.0,
        max_keys: int = 256,
        *,
        verbose: bool = True,
        redact: Callable[[str], str] = _no_redaction,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.max_keys = max_keys  # bound of distinct messages remembered
        self.verbose = verbose
        self._redact = redact
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose:
            return False
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._seen.get(key, (-1e18, 0))
            if now - last < self.interval_s:
                self._seen[key] = (last, suppressed + 1)
                return False
            if len(self._seen) >= self.max_keys and key not in self._seen:
                self._seen.clear()
            self._seen[key] = (now, 0)
        try:
            text = self._redact(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed SDK message must not escape
            text = self._redact(str(record.msg))
        record.msg, record.args = text, None
        if suppressed:
            record.msg = f"{text} ({suppressed} similar messages suppressed)"
        if record.exc_info and not record.exc_text:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
        return True

    def install(self) -> Callable[[], None]:
        """Attach to every OTel SDK/exporter logger that exists now; return the undo."""
        names = [
            name for name in list(logging.root.manager.loggerDict) if name.startswith(_PREFIXES)
        ]
        loggers = [logging.getLogger(n) for n in names]
        for lg in loggers:
            lg.addFilter(self)

        def undo() -> None:
            for lg in loggers:
                lg.removeFilter(self)

        return undo
