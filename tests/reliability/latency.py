"""Generate latency of the built-in model with a healthy vs. a faulty collector.

Each round configures telemetry against the healthy collector and against the faulty
one (order alternating, ABBA, to cancel drift on a shared machine), runs one warm-up and
``gens`` timed generations per condition, then shuts down. Export runs constantly during
generation (50 ms batch delays, 200 ms metric interval, a span and a debug log record
per decode step), so a fault that made the exporter busy or blocking would show up.

Measurement choices, both to keep the figure about telemetry and not about the machine:
the collectors run in a child process (an in-process receiver decoding requests would
compete for the GIL in the *healthy* runs only), and BLAS runs one thread (with two
OpenBLAS threads on two shared cores a descheduled helper makes a step 10-100x slower
at random). Wall time (what the user waits) and process CPU time (all threads: what
background exporting costs) are both recorded.

Run by hand for a table:  python tests/reliability/latency.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make tests/ and the repo importable
    sys.path[:0] = [
        str(Path(__file__).resolve().parents[1]),
        str(Path(__file__).resolve().parents[2]),
    ]

from threadpoolctl import threadpool_limits

import hyperion_otel.sdk as sdk
from hyperion_otel.runtime import GenerationConfig, Model, load_model
from reliability.collectors import FAULTS, PROTOCOLS, settings_for
from reliability.remote_collector import remote_collectors

from otlp_receiver import closed_port

_BATCH_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_BLRP_SCHEDULE_DELAY": "50"}
Endpoints = dict[str, dict[str, str]]


@dataclass
class LatencyResult:
    fault: str
    protocol: str
    ok_wall: list[float] = field(default_factory=list)
    fault_wall: list[float] = field(default_factory=list)
    ok_cpu: list[float] = field(default_factory=list)
    fault_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median wall time with the fault over median wall time when healthy."""
        return statistics.median(self.fault_wall) / statistics.median(self.ok_wall)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.fault_cpu) / statistics.median(self.ok_cpu)


@contextmanager
def _batch_env() -> Iterator[None]:
    old = {k: os.environ.get(k) for k in _BATCH_ENV}
    os.environ.update(_BATCH_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _endpoint(endpoints: Endpoints, name: str, protocol: str) -> Iterator[str]:
    if name == "down":
        with closed_port() as port:
            yield f"http://127.0.0.1:{port}"
    else:
        yield endpoints[name][protocol]


def _timed(
    model: Model, endpoint: str, protocol: str, out: Path, gens: int, tokens: int
) -> tuple[list[float], list[float]]:
    cfg = GenerationConfig(temperature=0.0, max_new_tokens=tokens)
    sdk.configure(
        settings_for(
            endpoint,
            protocol,
            out,
            log_outputs=("otlp",),
            log_level="debug",
            generation_debug=True,
            metric_export_interval_ms=200,
            shutdown_timeout_s=0.3,  # not measured; keeps the rounds short
        )
    )
    try:
        model.generate("warm up", cfg)
        wall, cpu = [], []
        for _ in range(gens):
            t0, c0 = time.perf_counter(), time.process_time()
            model.generate("The quick brown fox", cfg)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return wall, cpu
    finally:
        sdk.shutdown()


def measure(
    fault: str,
    protocol: str,
    out: Path,
    endpoints: Endpoints,
    *,
    rounds: int = 2,
    gens: int = 8,
    tokens: int = 48,
    model: Model | None = None,
) -> LatencyResult:
    """Generate latency, healthy vs. ``fault``; see the module doc."""
    model = model or load_model("builtin:tiny")
    res = LatencyResult(fault, protocol)
    with _batch_env(), threadpool_limits(1):
        for r in range(rounds):
            for name in ("ok", fault) if r % 2 == 0 else (fault, "ok"):
                with _endpoint(endpoints, name, protocol) as endpoint:
                    wall, cpu = _timed(model, endpoint, protocol, out, gens, tokens)
                if name == "ok":
                    res.ok_wall += wall
                    res.ok_cpu += cpu
                else:
                    res.fault_wall += wall
                    res.fault_cpu += cpu
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds of 4 generations per condition"
    )
    args = parser.parse_args(argv)
    rounds, gens = (2, 4) if args.quick else (4, 10)
    model = load_model("builtin:tiny")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, remote_collectors() as endpoints:
        for protocol in PROTOCOLS:
            for fault in FAULTS:
                res = measure(
                    fault, protocol, Path(tmp), endpoints, rounds=rounds, gens=gens, model=model
                )
                results[f"{protocol} {fault}"] = {
                    "ok_median_s": statistics.median(res.ok_wall),
                    "fault_median_s": statistics.median(res.fault_wall),
                    "ratio": res.ratio,
                    "cpu_ratio": res.cpu_ratio,
                }
    return results


if __name__ == "__main__":
    figures = main()
    print("| collector | healthy median (s) | faulty median (s) | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|")
    for name, row in figures.items():
        print(
            f"| {name} | {row['ok_median_s']:.4f} | {row['fault_median_s']:.4f} "
            f"| {row['ratio']:.3f} | {row['cpu_ratio']:.3f} |"
        )
