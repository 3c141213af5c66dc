"""The one telemetry face every facility and the runtime emit through.

Only the OTel *API* is used here: with no SDK configured every call is a cheap no-op.
Tracer, meter, OTel logger and instruments are cached per global provider, so that a
provider installed later (``configure()``, a test context) is picked up on the next call.
Observable instruments are kept as specs and registered again on every new meter
provider (the OTel API cannot unregister a callback, so re-registration is how a fresh
provider, e.g. one installed by ``create_test_context()``, gets them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from hyperion_otel import semconv
from hyperion_otel._seams.otel_private import is_proxy_meter_provider
from hyperion_otel._version import __version__

__all__ = [
    "counter",
    "histogram",
    "logger",
    "meter",
    "register_observable",
    "refresh",
    "tracer",
    "up_down_counter",
]

ObservableKind = Literal["gauge", "counter", "up_down_counter"]
ObservableCallback = Callable[[CallbackOptions], Iterable[Observation]]


@dataclass(frozen=True)
class _ObservableSpec:
    name: str
    kind: ObservableKind
    callback: ObservableCallback
    unit: str
    description: str


class _Face:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tracer_provider: object = None
        self.tracer: trace.Tracer | None = None
        self.meter_provider: object = None
        self.meter: metrics.Meter | None = None
        self.instruments: dict[str, Any] = {}
        self.logger_provider: object = None
        self.logger: _logs.Logger | None = None
        self.observables: dict[str, _ObservableSpec] = {}


_face = _Face()


def tracer() -> trace.Tracer:
    """Tracer of scope ``hyperion_otel`` from the current global TracerProvider."""
    provider = trace.get_tracer_provider()
    t = _face.tracer
    if t is None or _face.tracer_provider is not provider:
        t = provider.get_tracer(semconv.SCOPE_NAME, __version__, schema_url=semconv.SCHEMA_URL)
        _face.tracer, _face.tracer_provider = t, provider
    return t


def logger() -> _logs.Logger:
    """OTel Logs-API logger of scope ``hyperion_otel``."""
    provider = _logs.get_logger_provider()
    lg = _face.logger
    if lg is None or _face.logger_provider is not provider:
        lg = provider.get_logger(semconv.SCOPE_NAME, __version__, schema_url=semconv.SCHEMA_URL)
        _face.logger, _face.logger_provider = lg, provider
    return lg


def meter() -> metrics.Meter:
    """Meter of scope ``hyperion_otel``; a new provider resets the instrument cache."""
    provider = metrics.get_meter_provider()
    m = _face.meter
    if m is None or _face.meter_provider is not provider:
        with _face.lock:
            m = provider.get_meter(semconv.SCOPE_NAME, __version__, schema_url=semconv.SCHEMA_URL)
            _face.meter, _face.meter_provider = m, provider
            _face.instruments = {}
            # The API's proxy provider forwards instruments to the SDK provider set later;
            # registering observables on it too would register them twice.
            if not is_proxy_meter_provider(provider):
                for spec in _face.observables.values():
                    _create_observable(m, spec)
    return m


def _cached(name: str) -> Any:
    """The instrument ``name`` if created on the current global provider, else None.

    The per-call path of every counter/histogram a facility records: one dict read and
    one provider check, with no factory closure built (that halves the wrapper's cost
    over a raw SDK instrument call).
    """
    inst = _face.instruments.get(name)
    if inst is not None and _face.meter_provider is metrics.get_meter_provider():
        return inst
    return None


def _instrument(name: str, factory: Callable[[metrics.Meter], Any]) -> Any:
    m = meter()
    inst = _face.instruments.get(name)
    if inst is None:
        with _face.lock:
            inst = _face.instruments.get(name)
            if inst is None:
                inst = factory(m)
                _face.instruments[name] = inst
    return inst


def counter(name: str, unit: str = "", description: str = "") -> metrics.Counter:
    """Monotonic counter, created once per meter provider."""
    c: metrics.Counter | None = _cached(name)
    if c is None:
        c = _instrument(name, lambda m: m.create_counter(name, unit, description))
    return c


def count_dropped(n: int, signal: str, outcome: str, **attributes: str) -> None:
    """Add ``n`` lost items to ``hyperion.telemetry.dropped``: the one place that creates
    it, so it has one unit and one description whoever counts first. Never raises."""
    with contextlib.suppress(Exception):  # counting a loss must never become one
        counter(
            semconv.METRIC_TELEMETRY_DROPPED,
            semconv.UNIT_TELEMETRY_DROPPED,
            "Telemetry items not delivered, by signal and outcome",
        ).add(
            n,
            {
                semconv.HYPERION_SIGNAL: signal,
                semconv.HYPERION_TELEMETRY_OUTCOME: outcome,
                **attributes,
            },
        )


def up_down_counter(name: str, unit: str = "", description: str = "") -> metrics.UpDownCounter:
    """Up-down counter, created once per meter provider."""
    c: metrics.UpDownCounter | None = _cached(name)
    if c is None:
        c = _instrument(name, lambda m: m.create_up_down_counter(name, unit, description))
    return c


def histogram(
    name: str, unit: str = "", description: str = "", boundaries: Sequence[float] | None = None
) -> metrics.Histogram:
    """Histogram with explicit bucket advice (GenAI semconv boundaries live in semconv)."""
    cached: metrics.Histogram | None = _cached(name)
    if cached is not None:
        return cached

    def make(m: metrics.Meter) -> metrics.Histogram:
        return m.create_histogram(
            name,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=list(boundaries) if boundaries else None,
        )

    h: metrics.Histogram = _instrument(name, make)
    return h


def _create_observable(m: metrics.Meter, spec: _ObservableSpec) -> None:
    cb = [spec.callback]
    if spec.kind == "gauge":
        m.create_observable_gauge(spec.name, cb, spec.unit, spec.description)
    elif spec.kind == "counter":
        m.create_observable_counter(spec.name, cb, spec.unit, spec.description)
    else:
        m.create_observable_up_down_counter(spec.name, cb, spec.unit, spec.description)


def register_observable(
    name: str,
    kind: ObservableKind,
    callback: ObservableCallback,
    unit: str = "",
    description: str = "",
) -> None:
    """Register an observable instrument now and on every future meter provider.

    Registering the same name again is a no-op, so facilities may call this on every
    start. The callback must be cheap, must not raise (the SDK logs and skips it if it
    does) and should read state through a module-level reference, not capture objects
    it would keep alive.
    """
    spec = _ObservableSpec(name, kind, callback, unit, description)
    with _face.lock:
        if name in _face.observables:
            return
        _face.observables[name] = spec
        m = _face.meter
    provider = metrics.get_meter_provider()
    if is_proxy_meter_provider(provider):
        return
    if m is not None and _face.meter_provider is provider:
        _create_observable(m, spec)
    else:
        meter()  # creates the meter and registers every spec on it


def refresh() -> None:
    """Drop cached tracer/meter/logger so the next call binds to the current providers.

    Called by ``configure()``, ``shutdown()`` and the test context after they change
    global providers; also re-registers observable instruments on the new meter.
    """
    with _face.lock:
        _face.tracer = _face.meter = _face.logger = None
        _face.tracer_provider = _face.meter_provider = _face.logger_provider = None
        _face.instruments = {}
    meter()
