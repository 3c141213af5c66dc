"""Doctor checks that run the facilities for real: memory pool, profiler, model, resource limits.

Each check starts the facility, exercises it briefly and stops it again, then verifies
that the process is left as found (allocator, threads, profile hooks).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from hyperion_otel.cli.checks import Check, Status
from hyperion_otel.errors import HyperionError
from hyperion_otel.settings import Settings

__all__ = ["check_memory", "check_model", "check_profiler", "check_resources"]

_MiB = 1024 * 1024
_THREAD_EXIT_WAIT_S = 1.0


def _guarded(name: str, fix: str, run: Callable[[], Check]) -> Check:
    """A check that raised becomes a ``fail`` row naming the error, never a traceback."""
    try:
        return run()
    except HyperionError as exc:
        return Check(name, Status.FAIL, exc.message, fix)
    except Exception as exc:  # noqa: BLE001 - the doctor reports every failure as a row
        return Check(name, Status.FAIL, f"{type(exc).__name__}: {exc}", fix)


# --- memory ----------------------------------------------------------------------------------
def check_memory(settings: Settings) -> Check:
    fix = (
        "check HYPERION_MEMORY_* (guard pages need Linux/macOS mmap+mprotect); "
        "report a bug if the allocator is not restored"
    )
    return _guarded("memory tracking", fix, lambda: _memory(settings))


def _memory(settings: Settings) -> Check:
    from hyperion_otel._seams import allocator as _allocator
    from hyperion_otel.memory import (
        MemoryConfig,
        MemoryPool,
        check_memory_leaks,
        current_pool,
        init_memory,
        shutdown_memory,
    )

    config = MemoryConfig(
        track_allocations=True,
        track_stack_traces=True,
        enable_guard_pages=settings.memory_guard_pages,
        check_corruption=settings.memory_check_corruption,
        initial_pool_size=_MiB,
        max_pool_size=64 * _MiB,
    )
    before = _allocator.get_allocator()
    # Never replace a pool the host made current (doctor may run inside an application).
    own = current_pool() is None
    pool = init_memory(config) if own else MemoryPool(config)
    leaked_sites = 0
    try:
        if own and _allocator.get_allocator() is not pool:
            return Check(
                "memory tracking",
                Status.FAIL,
                "init_memory() did not install the pool",
                "report a bug: the runtime would not allocate from the pool",
            )
        a = pool.allocate((64, 64))
        a[:] = 1.0
        kept = pool.allocate(1024)  # left live on purpose: the leak report must find it
        pool.free(a)
        info = pool.debug_info()
        if own:
            leaked_sites = len(check_memory_leaks(log=False).leaks)
        pool.check_corruption()
        pool.free(kept)
    finally:
        if own:
            shutdown_memory()
        else:
            pool.close()
    after = _allocator.get_allocator()
    if after is not before:
        return Check(
            "memory tracking",
            Status.FAIL,
            f"the allocator was not restored after stop ({type(after).__name__})",
            "report a bug: shutdown_memory() must restore the previous allocator",
        )
    modes = [
        m
        for m, on in (
            ("guard pages", settings.memory_guard_pages),
            ("canaries", settings.memory_check_corruption),
        )
        if on
    ]
    detail = (
        f"pool start/allocate/free/stop ok ({info.total_allocations} allocations tracked"
        + (f", leak report found {leaked_sites} site(s)" if own else "")
        + (f", {' and '.join(modes)} on" if modes else "")
        + "); allocator restored"
    )
    if own and leaked_sites < 1:
        return Check(
            "memory tracking",
            Status.WARN,
            detail + "; the leak report missed a live allocation",
            "report a bug: check_memory_leaks() should list live allocations",
        )
    return Check("memory tracking", Status.PASS, detail)


# --- profiler --------------------------------------------------------------------------------
def _busy(deadline: float) -> int:
    n = 0
    while time.perf_counter() < deadline:
        n += sum(i * i for i in range(200))
    return n


def check_profiler(settings: Settings) -> Check:
    fix = "another profiler (sys.setprofile user, debugger, coverage) may interfere: run without it"
    return _guarded("profiler", fix, lambda: _profiler(settings))


def _profiler(settings: Settings) -> Check:
    from hyperion_otel.profiler import ProfilerConfig, is_profiling, profiling

    if is_profiling():
        return Check(
            "profiler",
            Status.WARN,
            "a profiling session is already running; not started again",
            "stop_profiling() first to check start/stop",
        )
    threads_before = {t.ident for t in threading.enumerate()}
    hook_before = sys.getprofile()
    thread_hook_before = threading.getprofile()
    switch_before = sys.getswitchinterval()
    interval = max(0.5, min(settings.profile_interval_ms, 5.0))
    config = ProfilerConfig(sample_interval_ms=interval, trace_calls=True)
    with profiling(config) as handle:
        _busy(time.perf_counter() + 0.1)
    profile = handle.profile
    deadline = time.monotonic() + _THREAD_EXIT_WAIT_S
    while time.monotonic() < deadline and {t.ident for t in threading.enumerate()} - threads_before:
        time.sleep(0.01)
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    problems = []
    if left:
        problems.append(f"thread(s) still running after stop: {', '.join(left)}")
    if sys.getprofile() is not hook_before:
        problems.append("sys.getprofile() not restored")
    if threading.getprofile() is not thread_hook_before:
        problems.append("threading.getprofile() not restored")
    if sys.getswitchinterval() != switch_before:
        problems.append("sys.getswitchinterval() not restored")
    if problems:
        return Check(
            "profiler",
            Status.FAIL,
            "; ".join(problems),
            "report a bug: stop_profiling() must undo every hook it installed",
        )
    samples = len(profile.samples) if profile is not None else 0
    detail = (
        f"start/stop ok: {samples} samples in 0.1 s at {interval:g} ms; "
        "threads, sys.getprofile and switch interval restored"
    )
    if samples == 0:
        return Check(
            "profiler",
            Status.WARN,
            detail,
            "the sampler got no CPU time: check the machine is not overloaded",
        )
    return Check("profiler", Status.PASS, detail)


# --- model -----------------------------------------------------------------------------------
def check_model(path: str) -> Check:
    fix = (
        f"download or convert the checkpoint again; `hyperion-otel verify {path}` lists "
        "every problem"
    )
    return _guarded("model", fix, lambda: _model(path, fix))


def _model(path: str, fix: str) -> Check:
    from hyperion_otel.runtime import get_model_info, verify_model

    if not path.startswith("builtin:") and not os.path.exists(path):
        return Check(
            "model",
            Status.FAIL,
            f"{path}: no such file or directory",
            "pass --model a checkpoint directory (config.json + safetensors), a .gguf "
            "file or builtin:tiny",
        )
    report = verify_model(path)
    if not report.ok:
        shown = "; ".join(report.problems[:3])
        more = f" (+{len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
        prefix = "" if shown.startswith(path) else f"{path}: "
        return Check("model", Status.FAIL, f"{prefix}{shown}{more}", fix)
    info = get_model_info(path)
    detail = (
        f"{path} verifies: {info.architecture}, {info.parameters:,} parameters, "
        f"{info.dtype}, {report.tensors_checked} tensors checked"
    )
    if info.tokenizer is None:
        return Check(
            "model",
            Status.WARN,
            f"{detail}; no tokenizer, so text prompts fail",
            "place the model's tokenizer.json beside the checkpoint, or pass token ids",
        )
    return Check("model", Status.PASS, f"{detail}, {info.tokenizer} tokenizer")


# --- resource limits ---------------------------------------------------------------------------
def check_resources(settings: Settings) -> Check:
    fix = "set HYPERION_MAX_CPU_PERCENT / HYPERION_MAX_MEMORY_MB / HYPERION_MAX_THREADS to valid values"
    return _guarded("resource limits", fix, lambda: _resources(settings))


def _resources(settings: Settings) -> Check:
    try:
        from hyperion_otel import resources
    except ImportError as exc:
        return Check(
            "resource limits",
            Status.FAIL,
            f"the resources facility is missing: {exc}",
            "reinstall hyperion-otel",
        )
    import psutil

    cpu, mem, threads = settings.max_cpu_percent, settings.max_memory_mb, settings.max_threads
    undo = resources.apply_resource_settings(cpu, mem, threads, process_metrics=False)
    undo()
    if cpu is None and mem is None and threads is None:
        return Check(
            "resource limits",
            Status.PASS,
            "no limits set (HYPERION_MAX_*); applying and undoing works",
        )
    cores = os.cpu_count() or 1
    rss_mb = psutil.Process().memory_info().rss / _MiB
    total_mb = psutil.virtual_memory().total / _MiB
    warnings: list[tuple[str, str]] = []
    if mem is not None and mem < rss_mb:
        return Check(
            "resource limits",
            Status.FAIL,
            f"HYPERION_MAX_MEMORY_MB={mem:g} is below what this process already uses ({rss_mb:.0f} MB)",
            f"raise HYPERION_MAX_MEMORY_MB above {rss_mb + 256:.0f} (the model needs room too)",
        )
    if mem is not None and mem > total_mb:
        warnings.append(
            (
                f"HYPERION_MAX_MEMORY_MB={mem:g} exceeds the machine's {total_mb:.0f} MB",
                "lower HYPERION_MAX_MEMORY_MB below the physical memory",
            )
        )
    if threads is not None and threads > cores:
        warnings.append(
            (
                f"HYPERION_MAX_THREADS={threads} exceeds the {cores} CPU(s)",
                f"set HYPERION_MAX_THREADS to {cores} or fewer",
            )
        )
    if threads is not None and not _blas_pools():
        warnings.append(
            (
                "no BLAS/OpenMP thread pool found: HYPERION_MAX_THREADS cannot be enforced",
                "install numpy with OpenBLAS/MKL (threadpoolctl must see it)",
            )
        )
    if cpu is not None and cpu > 100 * cores:
        warnings.append(
            (
                f"HYPERION_MAX_CPU_PERCENT={cpu:g} can never be reached with {cores} CPU(s)",
                f"use at most {100 * cores} (100 = one core)",
            )
        )
    shown = ", ".join(
        f"{k}={v:g}"
        for k, v in (("cpu%", cpu), ("memory MB", mem), ("threads", threads))
        if v is not None
    )
    if warnings:
        return Check(
            "resource limits",
            Status.WARN,
            f"{shown}: " + "; ".join(w for w, _ in warnings),
            "; ".join(f for _, f in warnings),
        )
    return Check(
        "resource limits",
        Status.PASS,
        f"{shown} apply (RSS now {rss_mb:.0f} MB, {cores} CPU(s)); undo restores the defaults",
    )


def _blas_pools() -> list[Any]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return list(threadpool_info())
