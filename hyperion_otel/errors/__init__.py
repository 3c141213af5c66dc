"""Typed errors of hyperion-otel, and the one place where errors become telemetry.

**Which error a bad value gets.** One rule, everywhere:

- a value read from the environment (``HYPERION_*``, ``OTEL_*``) or a field of
  ``Settings`` (whether from the environment, ``Settings(...)``, ``Settings.replace`` or
  ``configure(**overrides)``) is a ``ConfigError``, naming the variable or field;
- any other value passed in code is an ``InvalidInputError``: a function or method
  argument, and a field of a config object (``GenerationConfig``, ``MemoryConfig``,
  ``ProfilerConfig``, ``ResourceLimits``, ``LogConfig``, ``CacheConfig``, ...).

Both are ``ValueError`` subclasses. A call with arguments Python itself rejects (a missing
or unknown argument) raises ``TypeError`` as usual.

**Every public call is a boundary.** Each function, constructor and method reachable from
``hyperion_otel.__all__``, ``hyperion_otel.api.__all__`` and ``hyperion_otel.testing.__all__``
carries ``@public``: an exception escaping it is recorded as below and re-raised unchanged.
Only the outermost public call on the thread's stack records, so a public call made inside
another records once, and an error a public call catches itself is not recorded at all.
User code that a public call runs (a test registered with ``TestContext.add_test``) is
called through ``call_user``: public calls made there record as if made at the top level.
The success path costs one extra Python call.

**Where an error arose.** Every ``HyperionError`` records ``file``, ``line`` and ``function``:
the frame that constructed it, skipping frames of this package. For errors raised by
hyperion-otel itself that is the line inside hyperion-otel that detected the problem
(``raise ModelError(...)`` in user code points at the user's line); the input validators
(``hyperion_otel.validation``) point at the line that called them, and a config object's
constructor at the line that built it. An unexpected exception
wrapped by ``record_error`` points at the line that raised it (innermost traceback frame).
The error also keeps the trace and span ids of the span active when it was built.

**Recording.** ``record_error(exc)`` (called for you by every public call, and by
``error_boundary`` in your own code) produces, once per exception object:

- on the span (given, else the current one): status ERROR with the message, ``error.type``
  = the exception's qualified class name (``hyperion_otel.errors.ModelError``, ``KeyError``)
  and ``hyperion.error.category`` = the ``ErrorType`` value (``model``);
- an exception log record through the OTel Logs API, severity ERROR, tied to that span,
  with ``exception.type/message/stacktrace``, ``code.function.name/file.path/line.number``
  (the location above), ``error.type``, the category and ``hyperion.error.detail.<key>``
  for each entry of ``details``; plus the ``exception`` span event unless
  ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs`` (see ``_record``);
- one increment of the counter ``hyperion.errors`` {error.type, hyperion.error.category};
- the thread's last error (``get_last_error()``), and a call of every error callback.

Recording the same exception again (as it crosses nested boundaries) marks each further
span it escapes but emits no second log record, count or callback round.

**A chain is one event**, as an error tracker shows it: one per error raised to the caller.
An error raised from another (``raise ... from exc``, or raised while handling it) is
recorded with ``hyperion.error.cause.type`` and ``hyperion.error.cause.message`` naming the
one it came from (on the log record and span event; its stack trace holds the whole chain),
and the exceptions of its chain are part of that event: recording one of them later adds
nothing. Inside a public call, a phase of hyperion-otel's own work (the runtime's prefill
and decode steps) only marks the span an error leaves (status, ``error.type``, category);
the event is made where the error leaves the request, so a pool refusal the runtime turns
into a ``ResourceLimitError`` is one event, of the ``ResourceLimitError``. An exception that
was recorded before it was chained (by hand, or because it reached a caller) stays an event
of its own.

**Unexpected exceptions** (not ``HyperionError``) crossing a boundary are re-raised
unchanged; they are recorded with ``error.type`` = their own class name and category
``internal`` (``memory`` for ``MemoryError``, ``io`` for ``OSError``). Callbacks and
``get_last_error()`` see a ``HyperionError`` of that category whose ``__cause__`` is the
original. The boundaries let ``KeyboardInterrupt``/``SystemExit`` (and a ``StopIteration``
that ends an iteration) pass unrecorded.

**Callbacks** run on the thread that records, in registration order. A callback that
returns ``False`` (exactly ``False``; ``None`` keeps everything, so a plain function that
returns nothing filters nothing) suppresses the exception record (log record and span
event); span status, counter and last error are kept. A callback that raises is reported
once (a warning with traceback on the stdlib logger ``hyperion.errors``, which reaches
stderr when logging is unconfigured) and changes nothing else for the host.
"""

from __future__ import annotations

from hyperion_otel.errors import _callbacks, _state
from hyperion_otel.errors._boundary import error_boundary, has_boundary, public, record_error
from hyperion_otel.errors._callbacks import MAX_ERROR_CALLBACKS, ErrorCallback
from hyperion_otel.errors._types import (
    ConfigError,
    ErrorType,
    HyperionError,
    HyperionIOError,
    HyperionMemoryError,
    InvalidInputError,
    ModelError,
    PerformanceError,
    ResourceLimitError,
    get_error_string as _get_error_string,
)

# ``_types``, ``_state`` and ``_callbacks`` import nothing that records; their public
# functions get their boundary here.
set_error_callback = public(_callbacks.set_error_callback)
remove_error_callback = public(_callbacks.remove_error_callback)
get_last_error = public(_state.get_last_error)
clear_last_error = public(_state.clear_last_error)
get_error_string = public(_get_error_string)

__all__ = [
    "MAX_ERROR_CALLBACKS",
    "ConfigError",
    "ErrorCallback",
    "ErrorType",
    "HyperionError",
    "HyperionIOError",
    "HyperionMemoryError",
    "InvalidInputError",
    "ModelError",
    "PerformanceError",
    "ResourceLimitError",
    "clear_last_error",
    "error_boundary",
    "get_error_string",
    "get_last_error",
    "has_boundary",
    "public",
    "record_error",
    "remove_error_callback",
    "set_error_callback",
]
