"""``hyperion_otel.api`` needs only opentelemetry-api (README): importing it loads neither
numpy nor the OTel SDK; numpy comes in only when a tensor is recorded on a live span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
def loaded():
    return sorted({m.split(".")[0] if m.startswith("numpy") else ".".join(m.split(".")[:2])
                   for m in sys.modules if m.startswith(("numpy", "opentelemetry.sdk"))})
import hyperion_otel.api as api
after_import = loaded()
with api.op_span("tokenize"):
    pass
api.record_tensor("x", [1.0, 2.0])  # no SDK: the current span is not recording
after_calls = loaded()
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
with trace.get_tracer("t").start_as_current_span("s"):
    api.record_tensor("x", [1.0, 2.0])
print(json.dumps([after_import, after_calls, "numpy" in sys.modules]))
"""


def test_import_loads_neither_numpy_nor_the_sdk() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    after_import, after_calls, numpy_at_end = json.loads(proc.stdout)
    assert after_import == [], after_import
    assert after_calls == [], after_calls  # no-op calls load nothing either
    assert numpy_at_end  # a tensor recorded on a live span: now numpy is needed
