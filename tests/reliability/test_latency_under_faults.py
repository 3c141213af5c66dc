"""Generate latency with a faulty collector stays that of a healthy one.

The promise is "within 5%"; medians on a shared 2-core machine move by more than that
from one second to the next, so the assertion is a tolerant 1.25, taken as the best of
up to five measurements: an application thread that waited for the collector (a hang,
a 2 s slow response, a retry backoff) would be slower by whole multiples, every time.
The figures are printed (``-s``); ``python tests/reliability/latency.py`` prints a table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperion_otel.runtime import Model, load_model
from reliability.collectors import FAULTS, PROTOCOLS
from reliability.latency import LatencyResult, measure
from reliability.remote_collector import remote_collectors

BOUND = 1.25
ATTEMPTS = 5


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, dict[str, str]]]:
    with remote_collectors() as eps:
        yield eps


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model("builtin:tiny")


def _check(
    fault: str,
    protocol: str,
    tmp_path: Path,
    endpoints: dict[str, dict[str, str]],
    tiny: Model,
    rounds: int,
    gens: int,
) -> None:
    tries: list[LatencyResult] = []
    for _ in range(ATTEMPTS):
        res = measure(fault, protocol, tmp_path, endpoints, rounds=rounds, gens=gens, model=tiny)
        tries.append(res)
        if res.ratio <= BOUND:
            break
    best = min(tries, key=lambda r: r.ratio)
    print(
        f"\nlatency {protocol} {fault}: wall ratio {best.ratio:.3f} "
        f"(cpu {best.cpu_ratio:.3f}; attempts {[round(t.ratio, 3) for t in tries]})"
    )
    assert best.ratio <= BOUND, [(t.ratio, t.ok_wall, t.fault_wall) for t in tries]


@pytest.mark.parametrize(
    ("fault", "protocol"), [("hang", "http/protobuf"), ("unavailable", "grpc")]
)
def test_generate_latency_unchanged_by_a_faulty_collector(
    fault: str, protocol: str, tmp_path: Path, endpoints: dict[str, dict[str, str]], tiny: Model
) -> None:
    _check(fault, protocol, tmp_path, endpoints, tiny, rounds=2, gens=6)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_generate_latency_under_every_fault(
    fault: str, protocol: str, tmp_path: Path, endpoints: dict[str, dict[str, str]], tiny: Model
) -> None:
    _check(fault, protocol, tmp_path, endpoints, tiny, rounds=4, gens=8)
