"""Endurance: generate on builtin:tiny with every debugging facility on, for N minutes.

Full debugging, as ``configure()`` sets it up from settings: memory tracking with stack
traces, the profiler at 1 ms, generation debug logs at DEBUG into the rotating JSON log
file (compressed backups; ``--log-max-size-mb`` small so that it rotates often) and to
OTLP; traces, metrics and logs exported over OTLP/gRPC to ``tests/otlp_receiver.py`` on
127.0.0.1, run in a process of its own (``_soak_receiver.py``: what it stores must not
count in this process's RSS). The loop generates ``--tokens`` tokens per call, sampled,
one seed per call.

Every ``--sample-s`` seconds it reads this process's RSS, open file descriptors, OS
threads and the log files on disk (the current file plus rotated backups). Figures:

* RSS slope after the warm-up (least squares over the samples after it, MiB/min) and
  the growth that slope makes over the measured stretch; also last minus first sample;
* file descriptors and threads: their range after the warm-up;
* log files: the most seen at once against the rotation bound, ``--log-max-files``
  files in all, the live one included (as the log handler keeps them; a backup and its
  ``.gz`` counted once);
* records: spans ended and log records emitted, counted on the SDK's side by a span
  processor and a log record processor added to the providers ``configure()`` built,
  against the spans and log records in the export requests the receiver stored (from a
  baseline taken after a flush, so records from before the counters existed cancel out).

The profiler's buffers are rings (``--profile-max-samples`` samples, as many op events
and memory counter points):
they grow until full, then stay flat; the report says whether each was full by the end
of the warm-up, and the warm-up (``--warmup-min``) should be long enough that they are.

    python -m benchmarks --only soak --minutes 20
    python benchmarks/bench_soak.py --minutes 0.2 --json out.json [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_MiB = 1024 * 1024
_BACKUP_RE = r"\.(\d{8}T\d{6}\.\d{6}Z)(\.gz)?"


def linear_slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def log_files(log_file: str) -> dict[str, int]:
    """The log file and its rotated backups on disk: files, backups (a backup and its
    ``.gz`` count once) and everything else beside them (lock, in-progress, trash)."""
    directory, base = os.path.split(log_file)
    pattern = re.compile(re.escape(base) + _BACKUP_RE)
    files = stems = other = 0
    seen: set[str] = set()
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        entries = []
    for entry in entries:
        if entry == base:
            files += 1
            continue
        m = pattern.fullmatch(entry)
        if m is not None:
            files += 1
            if m.group(1) not in seen:
                seen.add(m.group(1))
                stems += 1
        elif entry.startswith(base):
            other += 1
    return {"files": files, "logs": stems + (1 if base in entries else 0), "other": other}


class Receiver:
    """``_soak_receiver.py`` in a child process, driven over its stdin/stdout."""

    def __init__(self, dump: str | None = None) -> None:
        cmd = [sys.executable, str(Path(__file__).with_name("_soak_receiver.py"))]
        if dump:
            cmd += ["--dump", dump]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise RuntimeError("the soak receiver did not start")
        self.endpoint: str = json.loads(line)["grpc"]

    def counts(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        counts: dict[str, int] = json.loads(self.proc.stdout.readline())
        return counts

    def stop(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


def _counters(telemetry: Any) -> tuple[Any, Any]:
    """Span and log record processors that count what the SDK ends and emits."""
    from opentelemetry.sdk._logs import LogRecordProcessor
    from opentelemetry.sdk.trace import SpanProcessor

    class SpanCounter(SpanProcessor):
        def __init__(self) -> None:
            self._n = itertools.count()  # next() is atomic: spans end on many threads
            self.ended = 0

        def on_end(self, span: Any) -> None:
            self.ended = next(self._n) + 1

    class LogCounter(LogRecordProcessor):
        def __init__(self) -> None:
            self._n = itertools.count()
            self.emitted = 0

        def on_emit(self, log_record: Any) -> None:
            self.emitted = next(self._n) + 1

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    spans, logs = SpanCounter(), LogCounter()
    telemetry.tracer_provider.add_span_processor(spans)
    telemetry.logger_provider.add_log_record_processor(logs)
    return spans, logs


def _sample(proc: Any, t0: float, log_file: str, generations: int) -> dict[str, Any]:
    files = log_files(log_file)
    return {
        "t_s": time.monotonic() - t0,
        "rss_mib": proc.memory_info().rss / _MiB,
        "fds": proc.num_fds(),
        "threads": proc.num_threads(),
        "py_threads": threading.active_count(),
        "log_files": files["files"],
        "logs": files["logs"],
        "log_other": files["other"],
        "generations": generations,
    }


def _ring_fill(warmup_s: float, t0: float) -> dict[str, Any]:
    """How full the running profiling session's rings are (and were at the warm-up end)."""
    from hyperion_otel.profiler import api

    session = api._state.session
    if session is None:
        return {}
    sampler, recorder = session._sampler, session._recorder
    fill = {
        "samples": len(sampler.samples) if sampler else 0,
        "inline_samples": len(sampler.inline_samples) if sampler else 0,
        "max_samples": session.config.max_samples,
        "op_events": recorder.kept if recorder else 0,
        "max_events": session.config.max_events,
        "counter_points": len(session._memory_points),
        "max_counter_points": session.config.max_counter_points,
        "at_s": time.monotonic() - t0,
        "warmup_s": warmup_s,
    }
    fill["full"] = (
        fill["samples"] == fill["inline_samples"] == fill["max_samples"]
        and fill["op_events"] == fill["max_events"]
        and fill["counter_points"] == fill["max_counter_points"]
    )
    return fill


def run(args: argparse.Namespace, out_dir: str) -> dict[str, Any]:
    import psutil

    import hyperion_otel
    from hyperion_otel import profiler, sdk
    from hyperion_otel.runtime import GenerationConfig
    from hyperion_otel.settings import Settings

    proc = psutil.Process()
    log_file = os.path.join(out_dir, "hyperion.log")
    rx = Receiver(args.dump)
    try:
        settings = Settings(
            output_dir=out_dir,
            log_level="debug",
            log_outputs=frozenset({"file", "otlp"}),
            log_file=log_file,
            log_max_size_mb=args.log_max_size_mb,
            log_max_files=args.log_max_files,
            log_compress=True,
            memory_tracking=True,
            memory_stack_traces=True,
            profiling=True,
            profile_interval_ms=1.0,
            profile_max_samples=args.profile_max_samples,
            generation_debug=True,
            traces_exporter=("otlp",),
            metrics_exporter=("otlp",),
            logs_exporter=("otlp",),
            otlp_endpoint=rx.endpoint,
            otlp_protocol="grpc",
            otlp_insecure=True,
            metric_export_interval_ms=args.metric_interval_s * 1000,
            shutdown_timeout_s=30.0,
        )
        # The memory counter ring has no setting of its own: the same bound as the others,
        # through the config configure() starts the session from.
        profiler.init_profiler(profiler.ProfilerConfig(max_counter_points=args.profile_max_samples))
        telemetry = sdk.configure(settings)
        spans, logs = _counters(telemetry)
        model = hyperion_otel.load_model("builtin:tiny")
        telemetry.force_flush(10.0)
        baseline = rx.counts()
        emitted0 = (spans.ended, logs.emitted)

        duration_s = args.minutes * 60
        warmup_s = min(args.warmup_min * 60, duration_s / 2)
        t0 = time.monotonic()
        samples = [_sample(proc, t0, log_file, 0)]
        next_sample = args.sample_s
        generations = tokens = 0
        fill_at_warmup: dict[str, Any] = {}
        prompt = "The file object "
        while (now := time.monotonic() - t0) < duration_s:
            g = model.generate(
                prompt,
                GenerationConfig(max_new_tokens=args.tokens, temperature=0.8, seed=generations),
            )
            generations += 1
            tokens += len(g.token_ids)
            if now >= next_sample:
                samples.append(_sample(proc, t0, log_file, generations))
                next_sample += args.sample_s
            if not fill_at_warmup and now >= warmup_s:
                fill_at_warmup = _ring_fill(warmup_s, t0)
        samples.append(_sample(proc, t0, log_file, generations))
        fill_at_end = _ring_fill(warmup_s, t0)
        elapsed = time.monotonic() - t0

        shutdown = sdk.shutdown()
        emitted = {"spans": spans.ended - emitted0[0], "logs": logs.emitted - emitted0[1]}
        stats = [
            {"signal": s.signal, "accepted": s.accepted, "delivered": s.delivered}
            for s in telemetry.stats
        ]
        # The receiver may still be decoding the last requests: wait until it settles.
        received: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now_counts = rx.counts()
            received = {k: now_counts[k] - baseline[k] for k in ("spans", "logs")}
            if received == emitted:
                break
            time.sleep(0.5)
        final_counts = rx.counts()
    finally:
        rx.stop()
    return _report(
        args,
        samples,
        warmup_s,
        elapsed,
        generations,
        tokens,
        emitted,
        received,
        baseline,
        final_counts,
        stats,
        shutdown,
        fill_at_warmup,
        fill_at_end,
        log_file,
    )


def _report(
    args: argparse.Namespace,
    samples: list[dict[str, Any]],
    warmup_s: float,
    elapsed: float,
    generations: int,
    tokens: int,
    emitted: dict[str, int],
    received: dict[str, int],
    baseline: dict[str, int],
    final_counts: dict[str, int],
    stats: list[dict[str, Any]],
    shutdown: Any,
    fill_at_warmup: dict[str, Any],
    fill_at_end: dict[str, Any],
    log_file: str,
) -> dict[str, Any]:
    after = [s for s in samples if s["t_s"] >= warmup_s] or samples[-1:]
    slope = linear_slope([(s["t_s"] / 60, s["rss_mib"]) for s in after])
    measured_min = (after[-1]["t_s"] - after[0]["t_s"]) / 60

    def spread(key: str, rows: list[dict[str, Any]]) -> dict[str, float]:
        values = [r[key] for r in rows]
        return {"first": values[0], "last": values[-1], "min": min(values), "max": max(values)}

    bound = args.log_max_files  # files in all, the live one included
    return {
        "minutes": elapsed / 60,
        "warmup_s": warmup_s,
        "sample_s": args.sample_s,
        "generations": generations,
        "tokens": tokens,
        "tokens_per_s": tokens / elapsed if elapsed else 0.0,
        "rss_slope_mib_per_min": slope,
        "rss_growth_mib": slope * measured_min,
        "rss_last_minus_first_mib": after[-1]["rss_mib"] - after[0]["rss_mib"],
        "measured_min": measured_min,
        "rss_mib": spread("rss_mib", after),
        "rss_start_mib": samples[0]["rss_mib"],
        "fds": spread("fds", after),
        "threads": spread("threads", after),
        "py_threads": spread("py_threads", after),
        "log_files": {
            "max_logs": max(s["logs"] for s in samples),
            "max_files": max(s["log_files"] for s in samples),
            "bound": bound,
            "end": log_files(log_file),
        },
        "emitted": emitted,
        "received": received,
        "lost": {k: emitted[k] - received.get(k, 0) for k in emitted},
        "receiver": final_counts,
        "receiver_baseline": baseline,
        "export_stats": stats,
        "shutdown": {
            "duration_s": shutdown.duration_s if shutdown else None,
            "lost": dict(shutdown.lost) if shutdown else None,
            "timed_out": shutdown.timed_out if shutdown else None,
        },
        "profile_rings": {"at_warmup": fill_at_warmup, "at_end": fill_at_end},
        "settings": {
            "log_max_size_mb": args.log_max_size_mb,
            "log_max_files": args.log_max_files,
            "profile_max_samples": args.profile_max_samples,
            "tokens_per_generate": args.tokens,
        },
        "samples": samples,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument(
        "--warmup-min",
        type=float,
        default=5.0,
        help="minutes left out of the figures (at most half the run)",
    )
    ap.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per generate")
    ap.add_argument("--log-max-size-mb", type=float, default=0.1)
    ap.add_argument("--log-max-files", type=int, default=3)
    ap.add_argument(
        "--profile-max-samples",
        type=int,
        default=2_000,
        help="HYPERION_PROFILE_MAX_SAMPLES: small, so the rings are full before the warm-up ends",
    )
    ap.add_argument("--metric-interval-s", type=float, default=10.0)
    ap.add_argument("--keep", metavar="DIR", help="output directory to use and keep")
    ap.add_argument("--dump", metavar="PATH", help="receiver: write every request here")
    ap.add_argument("--json", metavar="PATH", help="also write the report here")
    args = ap.parse_args(argv)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        report = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
            report = run(args, tmp)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, default=str)
    return report


def _print(r: dict[str, Any]) -> None:
    lf = r["log_files"]
    print(
        f"### Soak: builtin:tiny, full debugging, {r['minutes']:.1f} min "
        f"({r['warmup_s'] / 60:.1f} min warm-up), {r['generations']} generates, "
        f"{r['tokens_per_s']:.0f} tok/s\n"
    )
    print("| figure | value |\n|---|---:|")
    rows = [
        ("RSS slope after warm-up", f"{r['rss_slope_mib_per_min']:+.3f} MiB/min"),
        (
            f"RSS growth over {r['measured_min']:.1f} min (slope; last - first)",
            f"{r['rss_growth_mib']:+.2f}; {r['rss_last_minus_first_mib']:+.2f} MiB",
        ),
        ("RSS range after warm-up", f"{r['rss_mib']['min']:.1f}-{r['rss_mib']['max']:.1f} MiB"),
        ("open fds after warm-up (min-max)", f"{r['fds']['min']}-{r['fds']['max']}"),
        ("OS threads after warm-up (min-max)", f"{r['threads']['min']}-{r['threads']['max']}"),
        ("log files at once, most (bound)", f"{lf['max_logs']} ({lf['bound']})"),
        (
            "profiler rings full at the end of the warm-up",
            str(r["profile_rings"]["at_warmup"].get("full")),
        ),
        ("spans emitted / received", f"{r['emitted']['spans']} / {r['received']['spans']}"),
        ("log records emitted / received", f"{r['emitted']['logs']} / {r['received']['logs']}"),
    ]
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    _print(main())
