"""Rate limit for the OTel SDK's own warnings.

With a collector down, the SDK logs a line per failed batch and per dropped span
("Queue full, dropping spans", "Transient error ... retrying"): thousands of lines that
bury the application's output. This filter lets each distinct message through once a
minute and says how many were suppressed. ``install()`` returns its undo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OTelLogRateLimit"]

_PREFIXES = ("opentelemetry.sdk", "opentelemetry.exporter")


class OTelLogRateLimit(logging.Filter):
    def __init__(self, interval_s: float = 60.0, max_keys: int = 256) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.max_keys = max_keys  # bound of distinct messages remembered
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
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
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar messages suppressed)"
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
