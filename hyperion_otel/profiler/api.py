"""The profiler's public functions (the guide's ``hyperionInitProfiler`` & co).

One session runs at a time per process. ``init_profiler`` sets the config of the next
session; ``start_profiling``/``stop_profiling`` bracket it; ``save_profile`` writes the
running session's data so far, or else the last stopped profile.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable

from hyperion_otel.errors import HyperionError, InvalidInputError, PerformanceError, public
from hyperion_otel.profiler.collect import Session
from hyperion_otel.profiler.config import ProfilerConfig
from hyperion_otel.profiler.hotspots import HotspotReport, validate_top
from hyperion_otel.profiler.session import Profile

__all__ = [
    "ProfilingBlock",
    "ProfilingHandle",
    "current_session_profile",
    "enable_hotspot_detection",
    "get_hotspots",
    "init_profiler",
    "is_profiling",
    "last_profile",
    "profiling",
    "save_profile",
    "start_from_settings",
    "start_profiling",
    "stop_profiling",
]

_log = logging.getLogger("hyperion.performance")


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.config: ProfilerConfig | None = None
        self.session: Session | None = None
        self.owner = ""
        self.last: Profile | None = None


_state = _State()


def _check_config(config: object) -> ProfilerConfig:
    if not isinstance(config, ProfilerConfig):
        raise InvalidInputError(
            f"expected a ProfilerConfig, got {type(config).__name__}: {config!r}"[:200],
            field="config",
        )
    return config


@public
def init_profiler(config: ProfilerConfig | None = None) -> None:
    """Set the configuration of the next profiling session (``None``: defaults)."""
    cfg = ProfilerConfig() if config is None else _check_config(config)
    with _state.lock:
        _state.config = cfg


_HOTSPOTS = "enable_hotspot_detection()"


def _start(config: ProfilerConfig, owner: str) -> Session:
    with _state.lock:
        running = _state.session
        if running is not None and _state.owner == _HOTSPOTS:
            # Hotspot detection is a switch on profiling, not a session of its own: an
            # explicit start replaces its background session (whose profile stays the
            # last one) with one that has the current config and its own bounds.
            _stop(running)
        elif running is not None:
            raise PerformanceError(
                f"profiling is already running (profile {running.profile_id}, started "
                f"by {_state.owner}); call stop_profiling() first"
            )
        session = Session(config)
        session.start()
        _state.session, _state.owner = session, owner
        return session


def _stop(session: Session) -> Profile:
    with _state.lock:
        if _state.session is session:
            _state.session, _state.owner = None, ""
        profile = session.stop()
        _state.last = profile
        return profile


@public
def start_profiling() -> str:
    """Start a session with the ``init_profiler`` config; returns its profile id."""
    with _state.lock:
        return _start(_state.config or ProfilerConfig(), "start_profiling()").profile_id


@public
def stop_profiling() -> Profile:
    """Stop the running session, undo every hook it installed, and return its profile."""
    with _state.lock:
        session = _state.session
        if session is None:
            raise PerformanceError("profiling is not running; call start_profiling() first")
        return _stop(session)


def is_profiling() -> bool:
    return _state.session is not None


def last_profile() -> Profile | None:
    """The profile of the last stopped session."""
    return _state.last


def current_session_profile() -> Profile | None:
    """A snapshot of the running session, else the last stopped profile, else ``None``."""
    with _state.lock:
        session = _state.session
        if session is not None:
            return session.snapshot()
        return _state.last


@public
def save_profile(path: str | os.PathLike[str], format: str | None = None) -> str:
    """Write the profile to ``path``; returns the path.

    ``format``: ``"chrome"`` (Chrome Trace Event JSON, the default), ``"speedscope"``
    (default for ``*.speedscope.json``) or ``"summary"`` (default for ``*.summary.json``).
    Saves the running session's data so far if one runs, else the last stopped profile.
    """
    profile = current_session_profile()
    if profile is None:
        raise PerformanceError(
            "no profile to save: call start_profiling() (and stop_profiling()) first"
        )
    return profile.save(path, format)


@dataclasses.dataclass
class ProfilingHandle:
    """What ``profiling()`` yields; ``profile`` is set when the block exits."""

    profile_id: str
    profile: Profile | None = None


@public
class ProfilingBlock:
    """The context manager ``profiling()`` returns: a session from enter to exit."""

    def __init__(
        self, config: ProfilerConfig | None, output: str | os.PathLike[str] | None
    ) -> None:
        self._config = _check_config(config) if config is not None else None
        self._output = output
        self._session: Session | None = None
        self._handle = ProfilingHandle("")

    def __enter__(self) -> ProfilingHandle:
        with _state.lock:
            session = _start(self._config or _state.config or ProfilerConfig(), "profiling()")
        self._session = session
        self._handle = ProfilingHandle(session.profile_id)
        return self._handle

    def __exit__(self, *exc: object) -> None:
        session, handle = self._session, self._handle
        if session is None:
            return
        self._session = None
        handle.profile = _stop(session) if session.running else _state.last
        if self._output is not None and handle.profile is not None:
            handle.profile.save(self._output)


@public
def profiling(
    config: ProfilerConfig | None = None, *, output: str | os.PathLike[str] | None = None
) -> ProfilingBlock:
    """Profile the block (``with profiling() as handle:``); with ``output`` the profile is
    saved there at exit. The config is checked at the call, the session starts at entry."""
    return ProfilingBlock(config, output)


@public
def enable_hotspot_detection(on: bool = True) -> None:
    """Turn hotspot detection on or off.

    On: if no session runs, a background sampling session starts (with the
    ``init_profiler`` config) so that ``get_hotspots()`` has data; a later
    ``start_profiling()`` or ``profiling()`` replaces it with a session of its own rather
    than failing. Off: the background session, if it still runs, stops; its profile stays
    available to ``get_hotspots()``.
    """
    if not isinstance(on, bool):
        raise InvalidInputError(f"enable_hotspot_detection expects a bool, got {on!r}")
    with _state.lock:
        if on and _state.session is None:
            _start(_state.config or ProfilerConfig(), _HOTSPOTS)
        elif not on and _state.session is not None and _state.owner == _HOTSPOTS:
            _stop(_state.session)


@public
def get_hotspots(top: int = 10) -> HotspotReport:
    """The ``top`` hottest functions of the running session (so far) or the last profile."""
    top = validate_top(top)
    profile = current_session_profile()
    return profile.hotspots(top) if profile is not None else HotspotReport()


def start_from_settings(
    enabled: bool,
    interval_ms: float = 1.0,
    output: str | os.PathLike[str] | None = None,
    max_samples: int | None = None,
) -> Callable[[], None]:
    """For ``configure()``: start profiling per ``HYPERION_PROFILING`` /
    ``HYPERION_PROFILE_INTERVAL_MS`` / ``HYPERION_PROFILE_MAX_SAMPLES`` (bound of the sample
    and of the event buffers); the returned undo (idempotent) stops the session and, if
    ``output`` (``HYPERION_PROFILE_OUTPUT``) is set, saves the profile there. Never raises
    at stop; a bad value raises ``InvalidInputError`` at once.
    """
    if not enabled:
        return _noop
    with _state.lock:
        base = _state.config or ProfilerConfig()
        cfg = dataclasses.replace(base, sample_interval_ms=interval_ms)
        if max_samples is not None:
            cfg = dataclasses.replace(cfg, max_samples=max_samples, max_events=max_samples)
        if _state.session is not None:
            _log.warning("HYPERION_PROFILING ignored: profiling is already running")
            return _noop
        session = _start(cfg, "HYPERION_PROFILING")

    def undo() -> None:
        if not session.running:
            return
        try:
            profile = _stop(session)
            if output is not None:
                profile.save(output)
        except HyperionError as exc:
            _log.warning("profile could not be saved at shutdown: %s", exc)

    return undo


def _noop() -> None:
    return None
