"""A library instruments itself with the OTel API only; the application owns the SDK.

`tinylib` below is what a library author writes: `@traced_op` and `op_span` from
`hyperion_otel.api`, which cost nothing when the application configures no SDK. The
application part at the bottom turns telemetry on with `hyperion_otel.configure()` and
then finds the library's spans in the local OTLP-JSON output.

    python examples/library_instrumentation.py
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from hyperion_otel.api import op_span, record_tensor, traced_op


# --- the library -------------------------------------------------------------------------
class tinylib:  # noqa: N801 - stands for a module
    @staticmethod
    @traced_op("tinylib.normalize")
    def normalize(x: np.ndarray) -> np.ndarray:
        with op_span("tinylib.norm", rows=int(x.shape[0])):
            norm = np.linalg.norm(x, axis=-1, keepdims=True)
        out = x / np.maximum(norm, 1e-12)
        record_tensor("normalized", out, check_finite=True)
        return out


# --- the application ---------------------------------------------------------------------
def main() -> None:
    # Without an SDK the library's instrumentation is a plain function call.
    tinylib.normalize(np.ones((2, 4), np.float32))

    import hyperion_otel

    out_dir = os.environ.get("HYPERION_OUTPUT_DIR") or tempfile.mkdtemp(prefix="hyperion-lib-")
    hyperion_otel.configure(output_dir=out_dir, log_outputs=("file",))
    tinylib.normalize(np.arange(12, dtype=np.float32).reshape(3, 4))
    hyperion_otel.shutdown()

    names = []
    with open(os.path.join(out_dir, "traces.jsonl"), encoding="utf-8") as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    names += [s["name"] for s in ss["spans"]]
    print("spans written by the library:", sorted(names))
    assert sorted(names) == ["tinylib.norm", "tinylib.normalize"], names


if __name__ == "__main__":
    main()
