"""The soak benchmark's OTLP receiver, in a process of its own (its stored requests grow
with the run and must not count in the measured process's RSS).

Starts ``tests/otlp_receiver.OTLPReceiver`` on 127.0.0.1, prints ``{"grpc": endpoint}``
as one JSON line, then answers commands read from stdin, one per line:

* ``counts``: one JSON line with the requests, spans, log records and metric data
  points in the accepted export requests it stored;
* ``quit``: if ``--dump PATH`` was given, writes every stored request there first (one
  JSON line per request: ``{"signal": ..., "request": <OTLP JSON>}``), then stops.

    python benchmarks/_soak_receiver.py [--dump PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from google.protobuf import json_format

from otlp_receiver import OTLPReceiver, ReceivedRequest

# Far more requests than a long soak sends (each carries up to 512 items).
MAX_REQUESTS = 2_000_000


def count_items(signal: str, message: Any) -> int:
    """Spans, log records or metric data points in one export request."""
    if signal == "traces":
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal == "logs":
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    points = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                points += len(getattr(m, kind).data_points) if kind else 0
    return points


def counts(requests: list[ReceivedRequest]) -> dict[str, int]:
    out = {"requests": 0, "spans": 0, "logs": 0, "metric_points": 0, "not_accepted": 0}
    key = {"traces": "spans", "logs": "logs", "metrics": "metric_points"}
    for r in requests:
        if r.message is None or r.mode not in ("ok", "slow"):
            out["not_accepted"] += 1
            continue
        out["requests"] += 1
        out[key[r.signal]] += count_items(r.signal, r.message)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", help="write every stored request here as JSON lines at quit")
    args = ap.parse_args()
    rx = OTLPReceiver(max_records=MAX_REQUESTS).start()
    try:
        print(json.dumps({"grpc": rx.grpc_endpoint}), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "counts":
                print(json.dumps(counts(rx.requests)), flush=True)
            elif cmd == "quit":
                break
        if args.dump:
            with open(args.dump, "w", encoding="utf-8") as f:
                for r in rx.requests:
                    if r.message is None:
                        continue
                    body = json_format.MessageToDict(r.message)
                    f.write(json.dumps({"signal": r.signal, "mode": r.mode, "request": body}))
                    f.write("\n")
    finally:
        rx.stop()


if __name__ == "__main__":
    main()
