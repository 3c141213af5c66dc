"""Local collectors in a child process: a healthy one and one per fault mode.

For latency measurements the collector must not share the measured process's GIL
(a healthy in-process receiver decoding every request would slow the *healthy* runs).

    with remote_collectors() as eps:
        eps["ok"]["grpc"], eps["hang"]["http/protobuf"], ...

"down" is not served: use ``otlp_receiver.closed_port``. Run as a script it is the
child: it prints the endpoints as one JSON line and serves until stdin closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


@contextmanager
def remote_collectors(timeout_s: float = 60.0) -> Iterator[dict[str, dict[str, str]]]:
    """Endpoints by fault name ("ok" for the healthy one) and protocol."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"collector process exited with {proc.wait(timeout_s)}")
        yield json.loads(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serve() -> None:
    sys.path[:0] = [str(TESTS), str(REPO)]
    from reliability.collectors import FAULTS

    from otlp_receiver import OTLPReceiver

    with ExitStack() as stack:
        endpoints: dict[str, dict[str, str]] = {}
        for name in ("ok", *(f for f in FAULTS if f != "down")):
            rx = stack.enter_context(OTLPReceiver(max_records=1000))
            if name != "ok":
                options = dict(FAULTS[name])
                rx.set_fault(options.pop("mode"), **options)
            endpoints[name] = {"grpc": rx.grpc_endpoint, "http/protobuf": rx.http_endpoint}
        print(json.dumps(endpoints), flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    _serve()
