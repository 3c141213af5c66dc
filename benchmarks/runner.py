"""Run every benchmark, each in its own process, and put their figures against the goals.

Each benchmark is a module ``benchmarks.bench_<name>`` with ``main(argv) -> dict``. The
runner starts one child Python per benchmark (OTel global providers can be set only
once per process and the benchmarks install their own), in sequence (never two at once
on a 2-core machine), passes the argv of the chosen scale (full, ``--quick``, or the
smoke-test ``tiny``), and reads back the returned dict as JSON. Figures are ratios or
overheads measured *within* one benchmark run (the machine is shared and noisy), each
with its goal where the project states one.

BLAS runs on ``blas_threads`` threads in every child (default 1; 0 keeps the library's
default). On 2 cores shared with other work a 2-thread OpenBLAS GEMV stalls whenever one
of its threads is preempted (measured here: 11 tok/s with 2 threads against 53 with 1 at
a load average of 2-3), which would swamp every ratio; one thread also keeps all model
work on the measured thread.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCALES = ("full", "quick", "tiny")


@dataclass(frozen=True)
class Bench:
    name: str  # module benchmarks.bench_<name>
    argv: dict[str, list[str] | None]  # per scale; None: not run at that scale
    timeout_s: float
    in_default: bool = True  # run when no --only is given


# Full-scale argv are each benchmark's defaults unless trimmed to fit the 10-minute budget.
BENCHES: tuple[Bench, ...] = (
    Bench("decode", {"full": [], "quick": ["--quick"], "tiny": None}, 420),
    Bench(
        "overhead",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": [
                "--quick",
                "--layers",
                "1",
                "--vocab",
                "512",
                "--rounds",
                "1",
                "--tokens",
                "4",
            ],
        },
        300,
    ),
    Bench(
        "logging",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": ["--quick", "--records", "300", "--rounds", "1"],
        },
        300,
    ),
    Bench(
        "memory",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": ["--quick", "--layers", "1", "--rounds", "1", "--tokens", "2"],
        },
        300,
    ),
    Bench(
        "profiler",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": [
                "--quick",
                "--layers",
                "1",
                "--vocab",
                "512",
                "--rounds",
                "1",
                "--tokens",
                "4",
            ],
        },
        300,
    ),
    Bench(
        "transformers",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": [
                "--quick",
                "--layers",
                "1",
                "--vocab",
                "512",
                "--rounds",
                "1",
                "--tokens",
                "4",
            ],
        },
        900,
    ),
    Bench("llama_cpp", {"full": [], "quick": ["--quick"], "tiny": None}, 1200),
    Bench(
        "load",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": ["--quick", "--layers", "1", "--vocab", "1024"],
        },
        600,
    ),
    Bench(
        "threads",
        {"full": [], "quick": ["--quick"], "tiny": ["--quick", "--gpt2-layers", "1"]},
        1800,
    ),
    Bench("library_api", {"full": [], "quick": ["--quick"], "tiny": ["--quick"]}, 120),
    Bench(
        "memory_policy",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": ["--quick", "--rounds", "1", "--requests", "2", "--tokens", "4"],
        },
        240,
    ),
    Bench("errors", {"full": [], "quick": ["--quick"], "tiny": ["--quick"]}, 120),
    Bench(
        "shutdown",
        {
            "full": [],
            "quick": ["--quick"],
            "tiny": ["--quick", "--items", "10", "--protocols", "grpc"],
        },
        180,
    ),
    # Minutes long by design: only with --only soak (--minutes sets the length).
    Bench(
        "soak",
        {
            "full": [],
            "quick": ["--minutes", "2", "--warmup-min", "0.5"],
            "tiny": ["--minutes", "0.1", "--warmup-min", "0.03", "--sample-s", "1"],
        },
        300,
        in_default=False,
    ),
)
BY_NAME = {b.name: b for b in BENCHES}
# Benchmarks that compare thread counts themselves: their children keep the library's
# default pool size (the --blas-threads cap would leave nothing to compare).
OWN_THREADS = {"threads", "llama_cpp"}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    bench: str
    get: Callable[[dict[str, Any]], float | None]
    fmt: str  # "x" ratio, "%" fraction shown as percent, "ms", "s", "us", "rate"
    goal: tuple[str, float] | None = None  # (">=" or "<=", threshold in the figure's unit)

    def met(self, value: float | None) -> bool | None:
        if self.goal is None or value is None or math.isnan(value):
            return None
        op, bound = self.goal
        return value >= bound if op == ">=" else value <= bound


def _path(*keys: str) -> Callable[[dict[str, Any]], float | None]:
    def get(res: dict[str, Any]) -> float | None:
        cur: Any = res
        for k in keys:
            if not isinstance(cur, dict) or k not in cur:
                return None
            cur = cur[k]
        return float(cur) if isinstance(cur, (int, float)) else None

    return get


def _ratio(
    num: Callable[[dict[str, Any]], float | None], den: Callable[[dict[str, Any]], float | None]
) -> Callable[[dict[str, Any]], float | None]:
    def get(res: dict[str, Any]) -> float | None:
        a, b = num(res), den(res)
        return a / b if a is not None and b else None

    return get


def _cpu_overhead(workload: str, mode: str, base: str) -> Callable[[dict[str, Any]], float | None]:
    """bench_memory: fraction slower than ``base`` by CPU-time tokens/s."""
    slower = _ratio(_path(workload, base, "cpu"), _path(workload, mode, "cpu"))

    def get(res: dict[str, Any]) -> float | None:
        r = slower(res)
        return None if r is None else r - 1

    return get


def _drift(key: str) -> Callable[[dict[str, Any]], float | None]:
    """bench_soak: last - first sample of a figure after the warm-up (a log compression
    in progress holds a thread and a descriptor for a moment, so max - min is not 0)."""
    hi, lo = _path(key, "last"), _path(key, "first")

    def get(res: dict[str, Any]) -> float | None:
        a, b = hi(res), lo(res)
        return None if a is None or b is None else a - b

    return get


def _difference(group: str, a: str, b: str) -> Callable[[dict[str, Any]], float | None]:
    first, second = _path(group, a), _path(group, b)

    def get(res: dict[str, Any]) -> float | None:
        x, y = first(res), second(res)
        return None if x is None or y is None else x - y

    return get


def _rotation_stall(res: dict[str, Any]) -> float | None:
    """Worst time the logging thread spent in a rotation step, in its own CPU time."""
    return _path("stall", "ours", "rotate_step_cpu_ms", "max_ms")(res)


FIGURES: tuple[Figure, ...] = (
    Figure(
        "decode.vs_torch",
        "decode: ours / torch eager (median tok/s, same run)",
        "decode",
        _path("ours_vs_torch"),
        "x",
        (">=", 1.0),
    ),
    Figure(
        "decode.vs_gemv_loop",
        "decode: ours / numpy GEMV loop over the weights (best run of each)",
        "decode",
        _ratio(_path("ours_best_tok_s"), _path("gemv_loop_tok_s")),
        "x",
        (">=", 0.80),
    ),
    Figure(
        "decode.vs_bound",
        "decode: ours / streaming-read bandwidth bound (best run)",
        "decode",
        _ratio(_path("ours_best_tok_s"), _path("bound_tok_s")),
        "x",
    ),
    Figure(
        "decode.ours_tok_s", "decode: ours, tok/s (median)", "decode", _path("ours_tok_s"), "rate"
    ),
    Figure(
        "decode.ours_best_tok_s",
        "decode: ours, best run, tok/s",
        "decode",
        _path("ours_best_tok_s"),
        "rate",
    ),
    Figure(
        "decode.torch_tok_s",
        "decode: torch eager, tok/s (median)",
        "decode",
        _path("torch_eager_tok_s"),
        "rate",
    ),
    Figure(
        "decode.gemv_loop_tok_s",
        "decode: numpy GEMV loop over the weights, tok/s",
        "decode",
        _path("gemv_loop_tok_s"),
        "rate",
    ),
    Figure(
        "decode.bound_tok_s",
        "decode: streaming-read bandwidth bound, tok/s",
        "decode",
        _path("bound_tok_s"),
        "rate",
    ),
    Figure(
        "decode.stream_gb_s",
        "machine: streaming read bandwidth, GB/s",
        "decode",
        _path("stream_read_gb_s"),
        "rate",
    ),
    Figure(
        "decode.sdk_overhead",
        "decode: SDK with a dropping exporter, per-token time (GPT-2-small, paired runs)",
        "decode",
        _path("telemetry_overhead"),
        "%",
        ("<=", 0.01),
    ),
    Figure(
        "llama_cpp.vs_1t",
        "decode: ours / llama.cpp, F32 GGUF, 1 thread (median tok/s, same run)",
        "llama_cpp",
        _path("ours_vs_llama_cpp_f32", "1t"),
        "x",
        (">=", 0.95),
    ),
    Figure(
        "llama_cpp.vs_2t",
        "decode: ours / llama.cpp, F32 GGUF, 2 threads (median tok/s, same run)",
        "llama_cpp",
        _path("ours_vs_llama_cpp_f32", "2t"),
        "x",
        (">=", 1.0),
    ),
    Figure(
        "llama_cpp.vs_1t_cpu",
        "decode: ours / llama.cpp, F32 GGUF, 1 thread, tokens per CPU-second",
        "llama_cpp",
        _path("ours_vs_llama_cpp_f32_cpu", "1t"),
        "x",
    ),
    Figure(
        "llama_cpp.ours_1t",
        "decode: ours, F32 GGUF, 1 thread, tok/s",
        "llama_cpp",
        _path("tok_s", "ours F32 1t"),
        "rate",
    ),
    Figure(
        "llama_cpp.llama_1t",
        "decode: llama.cpp, F32 GGUF, 1 thread, tok/s",
        "llama_cpp",
        _path("tok_s", "llama.cpp F32 1t"),
        "rate",
    ),
    Figure(
        "llama_cpp.ours_2t",
        "decode: ours, F32 GGUF, 2 threads, tok/s",
        "llama_cpp",
        _path("tok_s", "ours F32 2t"),
        "rate",
    ),
    Figure(
        "llama_cpp.llama_2t",
        "decode: llama.cpp, F32 GGUF, 2 threads, tok/s",
        "llama_cpp",
        _path("tok_s", "llama.cpp F32 2t"),
        "rate",
    ),
    Figure(
        "load.f32",
        "load: GGUF F32 / safetensors, same GPT-2-small model (best of N)",
        "load",
        _path("vs_safetensors", "F32"),
        "x",
        ("<=", 1.50),
    ),
    Figure(
        "load.f16",
        "load: GGUF F16 / safetensors, same GPT-2-small model (best of N)",
        "load",
        _path("vs_safetensors", "F16"),
        "x",
        ("<=", 1.50),
    ),
    Figure(
        "load.q8_0",
        "load: GGUF Q8_0 / safetensors, same GPT-2-small model (best of N)",
        "load",
        _path("vs_safetensors", "Q8_0"),
        "x",
        ("<=", 1.50),
    ),
    Figure(
        "threads.tiny_idle_ttft",
        "threads: default TTFT / best fixed thread count, tiny, idle",
        "threads",
        _path("tiny / idle", "default", "ttft_vs_best"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "threads.tiny_idle_tok_s",
        "threads: default decode tok/s / best fixed thread count, tiny, idle",
        "threads",
        _path("tiny / idle", "default", "tok_s_vs_best"),
        "x",
        (">=", 0.90),
    ),
    Figure(
        "threads.tiny_busy_ttft",
        "threads: default TTFT / best fixed thread count, tiny, 2 busy loops",
        "threads",
        _path("tiny / 2 busy loops", "default", "ttft_vs_best"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "threads.tiny_busy_tok_s",
        "threads: default decode tok/s / best fixed thread count, tiny, 2 busy loops",
        "threads",
        _path("tiny / 2 busy loops", "default", "tok_s_vs_best"),
        "x",
        (">=", 0.90),
    ),
    Figure(
        "threads.gpt2_idle_ttft",
        "threads: default TTFT / best fixed thread count, gpt2, idle",
        "threads",
        _path("gpt2 / idle", "default", "ttft_vs_best"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "threads.gpt2_idle_tok_s",
        "threads: default decode tok/s / best fixed thread count, gpt2, idle",
        "threads",
        _path("gpt2 / idle", "default", "tok_s_vs_best"),
        "x",
        (">=", 0.90),
    ),
    Figure(
        "threads.gpt2_busy_ttft",
        "threads: default TTFT / best fixed thread count, gpt2, 2 busy loops",
        "threads",
        _path("gpt2 / 2 busy loops", "default", "ttft_vs_best"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "threads.gpt2_busy_tok_s",
        "threads: default decode tok/s / best fixed thread count, gpt2, 2 busy loops",
        "threads",
        _path("gpt2 / 2 busy loops", "default", "tok_s_vs_best"),
        "x",
        (">=", 0.90),
    ),
    Figure(
        "overhead.noise",
        "noise floor: no telemetry vs no telemetry (A/A), CPU",
        "overhead",
        _path("noise_floor"),
        "%",
    ),
    Figure(
        "overhead.default",
        "telemetry at the default configuration, decode CPU overhead (decode steps only)",
        "overhead",
        _path("default_overhead"),
        "%",
        ("<=", 0.01),
    ),
    Figure(
        "overhead.full_debug",
        "full debugging (memory tracking + traces, profiler 1 ms), decode CPU overhead (decode steps only)",
        "overhead",
        _path("full_debug_overhead"),
        "%",
        ("<=", 0.05),
    ),
    Figure(
        "overhead.default_wall",
        "telemetry at the default configuration, decode step wall",
        "overhead",
        _path("default_wall_overhead"),
        "%",
    ),
    Figure(
        "overhead.full_debug_wall",
        "full debugging, decode step wall",
        "overhead",
        _path("full_debug_wall_overhead"),
        "%",
    ),
    Figure(
        "transformers.overhead",
        "transformers generate, instrumented / plain, wall (median of paired ratios)",
        "transformers",
        _path("overhead"),
        "%",
        ("<=", 0.01),
    ),
    Figure(
        "transformers.noise",
        "noise floor: plain vs plain transformers generate (A/A), wall",
        "transformers",
        _path("noise_floor"),
        "%",
    ),
    Figure(
        "transformers.cpu_overhead",
        "transformers generate, instrumented / plain, thread CPU (median of paired ratios)",
        "transformers",
        _path("cpu_overhead"),
        "%",
    ),
    Figure(
        "transformers.cpu_noise",
        "noise floor: plain vs plain transformers generate (A/A), thread CPU",
        "transformers",
        _path("cpu_noise_floor"),
        "%",
    ),
    Figure(
        "transformers.own_cpu",
        "transformers generate: instrumentation's own CPU time / call CPU time (median)",
        "transformers",
        _path("own_cpu_fraction"),
        "%",
        ("<=", 0.01),
    ),
    Figure(
        "transformers.own",
        "transformers generate: instrumentation's own time / call wall time (median)",
        "transformers",
        _path("own_fraction"),
        "%",
    ),
    Figure(
        "transformers.own_ms",
        "transformers generate: instrumentation's own time per call (median)",
        "transformers",
        _path("own_ms"),
        "ms",
    ),
    Figure(
        "wrappers.counter",
        "metric wrapper: counter add / raw SDK",
        "overhead",
        _path("wrappers", "counter_ratio"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "wrappers.histogram",
        "metric wrapper: histogram record / raw SDK",
        "overhead",
        _path("wrappers", "histogram_ratio"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "wrappers.span",
        "span wrapper: op_span / raw SDK span (same path, interleaved, median of pairs)",
        "library_api",
        _path("op_span_vs_raw_ratio"),
        "x",
        ("<=", 1.10),
    ),
    Figure(
        "library.no_sdk_us",
        "library API without SDK: added cost per call",
        "library_api",
        _path("no_sdk_added_us"),
        "us",
        ("<=", 1.0),
    ),
    Figure(
        "logging.vs_pjl",
        "log file throughput: ours / python-json-logger",
        "logging",
        _path("ratio_vs_baseline", "ours"),
        "x",
        (">=", 2.0),
    ),
    Figure(
        "logging.vs_structlog",
        "log file throughput: ours / structlog",
        "logging",
        _ratio(_path("records_per_s", "ours"), _path("records_per_s", "structlog JSON")),
        "x",
    ),
    Figure(
        "logging.rotation_stall",
        "worst rotation stall of the logging thread (CPU)",
        "logging",
        _rotation_stall,
        "ms",
        ("<", 2.0),
    ),
    Figure(
        "logging.rotation_wall",
        "worst logging call during a rotation (wall)",
        "logging",
        _path("stall", "ours", "rotating_calls", "max_ms"),
        "ms",
    ),
    Figure(
        "logging.noise_wall",
        "noise floor: worst call, rotation off (wall)",
        "logging",
        _path("stall", "floor", "other_calls", "max_ms"),
        "ms",
    ),
    Figure(
        "memory.traces",
        "memory tracking with traces (depth 16), decode CPU overhead vs pool",
        "memory",
        _cpu_overhead("runtime", "traces16", "pool"),
        "%",
        ("<=", 0.05),
    ),
    Figure(
        "memory.tracking",
        "memory tracking, decode CPU overhead vs pool",
        "memory",
        _cpu_overhead("runtime", "tracking", "pool"),
        "%",
    ),
    Figure(
        "memory.heavy_traces",
        "memory tracking with traces, alloc-heavy step vs pool",
        "memory",
        _cpu_overhead("alloc-heavy", "traces16", "pool"),
        "%",
    ),
    Figure(
        "memory_policy.keep_allocations",
        "memory tradeoff 1: pool allocations per request (buffers kept)",
        "memory_policy",
        _path("settings", "tradeoff 1", "allocations_per_request"),
        "rate",
        ("<=", 0.0),
    ),
    Figure(
        "memory_policy.default_allocations",
        "memory tradeoff 0.5 (default): pool allocations per request",
        "memory_policy",
        _path("settings", "tradeoff 0.5", "allocations_per_request"),
        "rate",
    ),
    Figure(
        "memory_policy.eager_held",
        "memory tradeoff 0: pool bytes in use between requests",
        "memory_policy",
        _path("settings", "tradeoff 0", "used_between_requests_bytes"),
        "rate",
        ("<=", 0.0),
    ),
    Figure(
        "memory_policy.keep_time",
        "memory tradeoff 1: request time / default",
        "memory_policy",
        _path("settings", "tradeoff 1", "request_time_vs_default"),
        "x",
    ),
    Figure(
        "memory_policy.in_place_off_allocations",
        "memory in-place off: pool allocations per request",
        "memory_policy",
        _path("settings", "in-place off", "allocations_per_request"),
        "rate",
    ),
    Figure(
        "memory_policy.in_place_off_time",
        "memory in-place off: request time / default",
        "memory_policy",
        _path("settings", "in-place off", "request_time_vs_default"),
        "x",
    ),
    Figure(
        "profiler.noise",
        "profiler bench noise floor: plain vs plain (A/A), decode CPU",
        "profiler",
        _path("modes", "plain (A/A)", "cpu_overhead"),
        "%",
    ),
    Figure(
        "profiler.1ms",
        "profiler at 1 ms, decode CPU overhead",
        "profiler",
        _path("modes", "profile 1 ms", "cpu_overhead"),
        "%",
        ("<=", 0.02),
    ),
    Figure(
        "profiler.1ms_wall",
        "profiler at 1 ms, decode step wall",
        "profiler",
        _path("modes", "profile 1 ms", "step_overhead"),
        "%",
    ),
    Figure(
        "profiler.10ms",
        "profiler at 10 ms, decode CPU overhead",
        "profiler",
        _path("modes", "profile 10 ms", "cpu_overhead"),
        "%",
    ),
    Figure(
        "soak.rss_growth",
        "soak (full debugging): RSS growth after warm-up (least-squares slope x time)",
        "soak",
        _path("rss_growth_mib"),
        "MiB",
        ("<", 5.0),
    ),
    Figure(
        "soak.rings_full",
        "soak: profiler rings full by the end of the warm-up (1 = yes)",
        "soak",
        _path("profile_rings", "at_warmup", "full"),
        "n",
        (">=", 1),
    ),
    Figure(
        "soak.fds",
        "soak: open file descriptors, last - first sample after warm-up",
        "soak",
        _drift("fds"),
        "n",
        ("<=", 0),
    ),
    Figure(
        "soak.threads",
        "soak: OS threads, last - first sample after warm-up",
        "soak",
        _drift("threads"),
        "n",
        ("<=", 0),
    ),
    Figure(
        "soak.log_files",
        "soak: log files at once, most over the rotation bound",
        "soak",
        _difference("log_files", "max_logs", "bound"),
        "n",
        ("<=", 0),
    ),
    Figure(
        "soak.lost_spans",
        "soak: spans ended but not received",
        "soak",
        _path("lost", "spans"),
        "n",
        ("<=", 0),
    ),
    Figure(
        "soak.lost_logs",
        "soak: log records emitted but not received",
        "soak",
        _path("lost", "logs"),
        "n",
        ("<=", 0),
    ),
    Figure(
        "errors.boundary_us",
        "public-call error boundary, success path: added cost per call (median of 4 real calls)",
        "errors",
        _path("boundary_overhead_us"),
        "us",
    ),
    Figure(
        "shutdown.dead",
        "shutdown with a dead collector (worst)",
        "shutdown",
        _path("dead_worst_s"),
        "s",
        ("<=", 2.0),
    ),
    Figure(
        "shutdown.hanging",
        "shutdown with a hanging collector (worst)",
        "shutdown",
        _path("hanging_worst_s"),
        "s",
    ),
)


def _fmt(value: float | None, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if fmt == "x":
        return f"{value:.3f}x"
    if fmt == "%":
        return f"{100 * value:+.1f}%"
    if fmt == "us":
        return f"{value:.3f} µs"
    if fmt == "rate":
        return f"{value:.1f}"
    if fmt == "n":
        return f"{value:g}"
    return f"{value:.2f} {fmt}"


def _fmt_goal(f: Figure) -> str:
    if f.goal is None:
        return ""
    op, bound = f.goal
    sym = {">=": "≥", "<=": "≤", "<": "<"}[op]
    if f.fmt == "%":
        return f"{sym} {100 * bound:g}%"
    if f.fmt == "x":
        return f"{sym} {bound:.2f}x"
    if f.fmt == "n":
        return f"{sym} {bound:g}"
    unit = "µs" if f.fmt == "us" else f.fmt
    return f"{sym} {bound:g} {unit}"


def machine_info() -> dict[str, Any]:
    """What the numbers ran on: CPU (lscpu), BLAS (threadpoolctl), versions, load."""
    import numpy  # noqa: F401 - loads the BLAS library that threadpoolctl reports
    from threadpoolctl import threadpool_info

    cpu: dict[str, str] = {}
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in {
                "Model name",
                "CPU(s)",
                "Thread(s) per core",
                "L2 cache",
                "L3 cache",
                "Hypervisor vendor",
            }:
                cpu[k.strip()] = v.strip()
    blas = [
        {
            k: d.get(k)
            for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")
        }
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    versions = {}
    for pkg in ("numpy", "torch", "opentelemetry-sdk", "python-json-logger", "structlog"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "blas": blas,
        "versions": versions,
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "loadavg": list(os.getloadavg()),
    }


_CHILD = """
import importlib, json, sys
mod = importlib.import_module("benchmarks.bench_" + sys.argv[1])
res = mod.main(json.loads(sys.argv[2]))
with open(sys.argv[3], "w", encoding="utf-8") as f:
    json.dump(res, f, default=str)
"""


# Benchmarks that take the BLAS thread count as an argument (the others get it by env).
_THREAD_ARGS = {
    "decode": "--threads",
    "overhead": "--blas-threads",
    "memory": "--blas-threads",
    "profiler": "--blas-threads",
    "transformers": "--threads",
}
# Benchmarks that run for ``--minutes`` (default minutes).
_TIMED = {"soak": 20.0}
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def bench_argv(
    bench: Bench, scale: str, blas_threads: int, minutes: float | None = None
) -> list[str] | None:
    argv = bench.argv[scale]
    if argv is None:
        return None
    flag = _THREAD_ARGS.get(bench.name)
    if flag is not None and blas_threads > 0:
        argv = [*argv, flag, str(blas_threads)]
    if minutes is not None and bench.name in _TIMED:
        argv = [*argv, "--minutes", f"{minutes:g}"]
    return argv


def bench_timeout(bench: Bench, argv: list[str]) -> float:
    """A timed benchmark's own length (its last ``--minutes``, else its default) plus
    half again and five minutes for setup and the final flush."""
    if bench.name not in _TIMED:
        return bench.timeout_s
    minutes = _TIMED[bench.name]
    for i, a in enumerate(argv[:-1]):
        if a == "--minutes":
            minutes = float(argv[i + 1])
    return max(bench.timeout_s, minutes * 60 * 1.5 + 300)


def child_env(blas_threads: int) -> dict[str, str]:
    env = dict(os.environ)
    if blas_threads > 0:
        env.update(dict.fromkeys(_BLAS_ENV, str(blas_threads)))
    return env


def run_bench(
    bench: Bench,
    argv: list[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
) -> tuple[dict[str, Any] | None, str | None, float]:
    """(result, error, seconds) of one benchmark run in a child process."""
    out = log_dir / f"{bench.name}.json"
    log = log_dir / f"{bench.name}.log"
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as lf:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, bench.name, json.dumps(argv), str(out)],
                cwd=ROOT,
                stdout=lf,
                stderr=subprocess.STDOUT,
                timeout=timeout_s or bench.timeout_s,
                check=False,
                env=env,
            )
            err = None if proc.returncode == 0 else f"exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            err = f"timed out after {timeout_s or bench.timeout_s:g} s"
    took = time.perf_counter() - t0
    if err is not None:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return None, err + ("\n" + "\n".join(tail) if tail else ""), took
    return json.loads(out.read_text(encoding="utf-8")), None, took


def run(
    scale: str,
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    blas_threads: int = 1,
    minutes: float | None = None,
) -> dict[str, Any]:
    """Run the benchmarks (all, or ``only``) at ``scale``; the report as a JSON-able dict."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    names = list(only) if only else [b.name for b in BENCHES if b.in_default]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {list(BY_NAME)}")
    report: dict[str, Any] = {
        "scale": scale,
        "blas_threads": blas_threads,
        "selected": names,
        "machine": machine_info(),
        "results": {},
        "errors": {},
        "seconds": {},
        "skipped": [],
        "argv": {},
    }
    env = child_env(blas_threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hyperion-bench-") as tmp:
        for i, name in enumerate(names, 1):
            bench = BY_NAME[name]
            argv = bench_argv(bench, scale, blas_threads, minutes)
            if argv is None:
                report["skipped"].append(name)
                if progress:
                    progress(f"[{i}/{len(names)}] {name}: not run at scale {scale}")
                continue
            if progress:
                progress(f"[{i}/{len(names)}] {name} {' '.join(argv)}".rstrip())
            report["argv"][name] = argv
            own = name in OWN_THREADS
            res, err, took = run_bench(
                bench, argv, Path(tmp), child_env(0) if own else env, bench_timeout(bench, argv)
            )
            report["seconds"][name] = took
            if res is not None:
                report["results"][name] = res
            if err is not None:
                report["errors"][name] = err
            if progress:
                progress(f"    {'FAILED: ' + err if err else 'done'} ({took:.1f} s)")
    report["total_s"] = time.perf_counter() - t0
    report["loadavg_end"] = list(os.getloadavg())
    report["figures"] = figures(report["results"])
    return report


def figures(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in FIGURES:
        res = results.get(f.bench)
        value = f.get(res) if res is not None else None
        rows.append(
            {
                "key": f.key,
                "label": f.label,
                "bench": f.bench,
                "value": value,
                "shown": _fmt(value, f.fmt),
                "goal": _fmt_goal(f) or None,
                "met": f.met(value),
            }
        )
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = ["| figure | value | goal | met? |", "|---|---:|---|---|"]
    for row in report["figures"]:
        if row["bench"] not in report["selected"]:
            continue
        if row["bench"] not in report["results"]:
            why = "not run" if row["bench"] in report["skipped"] else "error"
            lines.append(f"| {row['label']} | {why} | {row['goal'] or ''} | |")
            continue
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(f"| {row['label']} | {row['shown']} | {row['goal'] or ''} | {met} |")
    m = report["machine"]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']}, {b['architecture']} kernels" for b in m["blas"]
    )
    lines += [
        "",
        f"Machine: {m['cpu'].get('Model name', platform.processor())}, {m['nproc']} CPUs, "
        f"Python {m['python']}, numpy {m['versions']['numpy']} (BLAS: {blas}), torch "
        f"{m['versions']['torch']}; OPENBLAS_CORETYPE={m['openblas_env']['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={m['openblas_env']['OPENBLAS_L2_SIZE']}; load average "
        f"{m['loadavg'][0]:.1f} at start, {report['loadavg_end'][0]:.1f} at end.",
        f"BLAS threads per benchmark: {report['blas_threads'] or 'library default'}. "
        f"Scale: {report['scale']}; took {report['total_s']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items())
        + ").",
    ]
    for name, res in report["results"].items():
        if isinstance(res.get("skipped"), str):  # a part the benchmark could not run
            lines.append(f"\n{name}: {res['skipped']}")
    for name, err in report["errors"].items():
        lines.append(f"\n{name} FAILED: {err}")
    return "\n".join(lines)
