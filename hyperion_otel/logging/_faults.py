"""Faults of the logging system itself: counted, warned about rarely, never raised.

A handler that cannot write (disk full, directory deleted, permission lost), format a
record, compress a rotated file or export a record calls :func:`record_fault`. The
application goes on; the fault is counted here (:func:`fault_counts`) and one line per
kind goes to stderr at most every ``warn_interval_s`` seconds. The records it cost
(``lost``; 0 for a fault that loses none, such as a failed compression) are added once
to the ``hyperion.telemetry.dropped`` metric (``hyperion.signal=logs``,
``hyperion.telemetry.outcome=failed``, ``error.type=<kind>``, the root cause), so a record lost to a failed open is not counted
again as a failed write. The warning bypasses ``logging`` on purpose: a logging fault
reported through logging could loop.
"""

from __future__ import annotations

import sys
import threading
import time

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry

__all__ = ["fault_counts", "record_fault", "reset_faults", "set_warn_interval"]

# What each kind means for the user, and what to do; the kind stays the metric's error.type.
_EXPLAINED: dict[str, str] = {
    "otlp_recursion": (
        "a log record was written while telemetry was being exported (often a warning "
        "about that export), so it was not sent over OTLP, which would loop; the console "
        "and the log file still have it. Nothing to do unless the export keeps failing"
    ),
    "otlp": "a log record could not be handed to the OTLP log exporter",
    "write": "a log record could not be written to the log file (disk full or no permission?)",
    "open": "the log file could not be opened; check the directory exists and is writable",
    "deleted": "the log file was deleted while open; it was reopened",
    "format": "a log record could not be formatted (a bad argument in the logging call?)",
    "compress": "a rotated log file could not be compressed; it is kept uncompressed",
    "console": "a log record could not be written to the console",
    "rotate": "the log file could not be rotated; logging goes on in the current file",
    "delete": "an old rotated log file could not be deleted",
    "close": "the log file could not be closed cleanly",
}

_lock = threading.Lock()
_counts: dict[str, int] = {}
_last_warned: dict[str, float] = {}
_warn_interval_s = 60.0


def record_fault(
    kind: str,
    exc: BaseException | None = None,
    detail: str = "",
    *,
    lost: int = 1,
    records_as: str | None = None,
) -> None:
    """Count a fault of ``kind`` that lost ``lost`` records; never raises.

    ``fault_counts()[kind]`` grows by ``lost`` (by 1 when ``lost`` is 0: the fault lost
    nothing but happened). ``records_as`` also counts the lost records under that kind
    in ``fault_counts`` (a record the file handler drops because the file cannot be
    opened is an ``open`` fault and, like every record it fails to write, a ``write``
    one); the metric and the warning go to ``kind`` only, so each lost record is in
    the metric once and one warning names the root cause.
    """
    try:
        now = time.monotonic()
        with _lock:
            _counts[kind] = _counts.get(kind, 0) + (lost if lost > 0 else 1)
            if records_as is not None and lost > 0:
                _counts[records_as] = _counts.get(records_as, 0) + lost
            last = _last_warned.get(kind)
            warn = last is None or now - last >= _warn_interval_s
            if warn:
                _last_warned[kind] = now
            count = _counts[kind]
        if warn:
            why = f": {type(exc).__name__}: {exc}" if exc is not None else ""
            where = f" ({detail})" if detail else ""
            also = (
                f"; the record is dropped and counted as a {records_as} fault"
                if records_as is not None and lost > 0
                else ""
            )
            stream = sys.stderr or sys.__stderr__
            if stream is not None:
                what = _EXPLAINED.get(kind, f"{kind} fault")
                stream.write(
                    f"hyperion-otel logging: {what}{where}{why}{also}; "
                    f"{count} so far, logging goes on (next warning for this kind "
                    f"in >= {_warn_interval_s:g} s)\n"
                )
        if lost > 0:
            _telemetry.count_dropped(lost, "logs", "failed", **{semconv.ERROR_TYPE: kind})
    except Exception:  # noqa: BLE001, S110 - reporting a fault must never become one
        pass


def fault_counts() -> dict[str, int]:
    """Snapshot of fault counts by kind (``write``, ``open``, ``deleted``, ``format``,
    ``compress``, ...): records lost, or occurrences for kinds that lose none."""
    with _lock:
        return dict(_counts)


def reset_faults() -> None:
    with _lock:
        _counts.clear()
        _last_warned.clear()


def set_warn_interval(seconds: float) -> float:
    """Set the minimum time between two stderr warnings of one kind; returns the old value."""
    global _warn_interval_s  # process-wide rate limit
    with _lock:
        old, _warn_interval_s = _warn_interval_s, float(seconds)
    return old
