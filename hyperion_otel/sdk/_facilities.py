"""Apply settings to every facility; each application returns its undo.

``configure()`` (and the zero-code instrumentor) call ``apply()``; ``shutdown()`` runs the
undos in reverse order. Facilities are imported here, lazily, so that ``import
hyperion_otel`` stays cheap. If one facility fails to start, those already started are
undone before the error propagates, so a failed ``configure()`` leaves nothing behind.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from hyperion_otel.settings import Settings

__all__ = ["apply"]

Undo = Callable[[], None]
_MiB = 1024 * 1024


def _logging(settings: Settings) -> Undo:
    from hyperion_otel import logging as hlog
    from hyperion_otel.errors import HyperionIOError

    try:
        _apply_logging(settings, settings.log_outputs)
    except HyperionIOError as exc:
        # An unusable log file must not stop the application: log elsewhere, say so once.
        print(f"hyperion-otel: log file disabled: {exc}", file=sys.stderr)
        _apply_logging(settings, settings.log_outputs - {"file"})
    return lambda: hlog.shutdown_logging(timeout_s=min(1.0, settings.shutdown_timeout_s))


def _apply_logging(settings: Settings, outputs: frozenset[str]) -> None:
    from hyperion_otel import logging as hlog

    hlog.apply_logging_settings(
        level=settings.log_level,
        outputs=outputs,
        file=settings.effective_log_file(),
        file_format=settings.log_format,
        console_format=settings.log_console_format,
        categories=settings.log_categories,
        max_size_mb=settings.log_max_size_mb,
        max_files=settings.log_max_files,
        compress=settings.log_compress,
    )


def _memory(settings: Settings) -> Undo:
    import psutil

    from hyperion_otel import memory

    # "No limit" for the pool means the machine's memory: the pool must have some bound.
    max_bytes = (
        int(settings.memory_pool_max_mb * _MiB)
        if settings.memory_pool_max_mb is not None
        else int(psutil.virtual_memory().total)
    )
    initial = min(int(settings.memory_pool_initial_mb * _MiB), max_bytes)
    memory.init_memory(
        memory.MemoryConfig(
            track_allocations=settings.memory_tracking or settings.memory_stack_traces,
            track_stack_traces=settings.memory_stack_traces,
            enable_guard_pages=settings.memory_guard_pages,
            check_corruption=settings.memory_check_corruption,
            initial_pool_size=initial,
            max_pool_size=max_bytes,
            stack_depth=settings.memory_stack_depth,
        )
    )
    return memory.shutdown_memory


def _profiler(settings: Settings) -> Undo:
    from hyperion_otel import profiler

    return profiler.start_from_settings(
        settings.profiling,
        settings.profile_interval_ms,
        settings.profile_output,
        max_samples=settings.profile_max_samples,
    )


def _resources(settings: Settings) -> Undo:
    from hyperion_otel import resources

    return resources.apply_resource_settings(
        settings.max_cpu_percent, settings.max_memory_mb, settings.max_threads
    )


def _runtime(settings: Settings) -> Undo:
    from hyperion_otel import runtime
    from hyperion_otel.runtime import _instrument

    runtime.enable_generation_debug(settings.generation_debug)
    _instrument.set_capture_content(settings.capture_message_content)

    def undo() -> None:
        runtime.enable_generation_debug(False)
        _instrument.set_capture_content(None)

    return undo


def _errors(settings: Settings) -> Undo:
    from hyperion_otel.errors import _record as _error_recording

    _error_recording.set_exception_signal(settings.exception_signal)
    return lambda: _error_recording.set_exception_signal(None)


# Order matters: logging first so the others can log; undone in reverse.
_FACILITIES: tuple[Callable[[Settings], Undo], ...] = (
    _logging,
    _errors,
    _memory,
    _profiler,
    _resources,
    _runtime,
)


def apply(settings: Settings) -> list[Undo]:
    undos: list[Undo] = []
    try:
        for start in _FACILITIES:
            undos.append(start(settings))  # noqa: PERF401 - a list comprehension would lose the undos of those that started
    except BaseException:
        for undo in reversed(undos):
            undo()
        raise
    return undos
