"""One generate with telemetry set up from the environment, as a user's program does it.

Run as a subprocess by test_phoenix_e2e.py with OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_SERVICE_NAME set. Prints one JSON line: the trace id
of the generate, the generated token count and what shutdown reported lost.
"""

from __future__ import annotations

import json
import sys

from opentelemetry import trace

import hyperion_otel


def main(prompt: str) -> dict[str, object]:
    telemetry = hyperion_otel.configure()
    model = hyperion_otel.load_model("builtin:tiny")
    tracer = trace.get_tracer("hyperion_otel.e2e")
    with tracer.start_as_current_span("e2e request") as span:
        config = hyperion_otel.GenerationConfig(max_new_tokens=8, temperature=0)
        generation = model.generate(prompt, config)
        trace_id = format(span.get_span_context().trace_id, "032x")
    report = telemetry.shutdown()
    return {
        "trace_id": trace_id,
        "output_tokens": len(generation.token_ids),
        "finish_reason": generation.finish_reason,
        "lost": report.total_lost,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "Once upon a time")))
