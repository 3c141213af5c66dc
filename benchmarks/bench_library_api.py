"""Library API cost: a decorated call with no SDK (goal <= 1 µs added) and our op spans
against raw OTel SDK spans (goal <= 10% added), measured in the same run.

    python benchmarks/bench_library_api.py [--quick]
"""

from __future__ import annotations

import argparse
import timeit
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from hyperion_otel._seams import otel_private, telemetry as _telemetry
from hyperion_otel.api import op_span, traced_op


class _Drop(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _plain(x: int) -> int:
    return x + 1


_decorated = traced_op("bench.op")(_plain)


def _best(stmt: Any, number: int, repeat: int = 5) -> float:
    """Best per-call seconds over ``repeat`` runs (the least disturbed by other load)."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else 200_000
    snap = otel_private.snapshot()
    otel_private.clear()
    _telemetry.refresh()
    plain = _best(lambda: _plain(1), n)
    nosdk = _best(lambda: _decorated(1), n)

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    trace.set_tracer_provider(provider)
    _telemetry.refresh()
    tracer = provider.get_tracer("bench")
    m = n // 20

    def raw() -> None:  # the same span and attribute, by hand
        with tracer.start_as_current_span("bench.op", attributes={"hyperion.op.name": "bench.op"}):
            _plain(1)

    def ours() -> None:
        with op_span("bench.op"):
            _plain(1)

    raw_s = _best(raw, m)
    ours_s = _best(ours, m)
    deco_s = _best(lambda: _decorated(1), m)
    provider.shutdown()
    snap.restore()
    _telemetry.refresh()
    return {
        "plain_call_us": plain * 1e6,
        "no_sdk_decorated_call_us": nosdk * 1e6,
        "no_sdk_added_us": (nosdk - plain) * 1e6,
        "raw_sdk_span_us": raw_s * 1e6,
        "op_span_us": ours_s * 1e6,
        "decorated_with_sdk_us": deco_s * 1e6,
        "op_span_vs_raw_ratio": ours_s / raw_s,
    }


if __name__ == "__main__":
    import sys

    r = main(sys.argv[1:])
    print("| figure | value |\n|---|---|")
    for k, v in r.items():
        print(f"| {k} | {v:.3f} |")
    print(
        f"\nno-SDK added cost {r['no_sdk_added_us']:.3f} µs/call (goal <= 1 µs); "
        f"op_span vs raw SDK span {r['op_span_vs_raw_ratio']:.3f}x (goal <= 1.10x)"
    )
