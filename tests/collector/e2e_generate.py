"""One generate with telemetry set up from the environment, as a user's program does it.

Run as a subprocess by the end-to-end tests (Phoenix, MLflow) with OTEL_* variables set.
``e2e_generate.py PROMPT`` generates from PROMPT; ``e2e_generate.py --error`` asks for a
token id the model does not have, so the generate span ends in error. Prints one JSON
line: the trace id, the generated token count (or the error's type and message) and
what shutdown reported lost.
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
    config = hyperion_otel.GenerationConfig(max_new_tokens=8, temperature=0)
    result: dict[str, object] = {}
    with tracer.start_as_current_span("e2e request") as span:
        result["trace_id"] = format(span.get_span_context().trace_id, "032x")
        if prompt == "--error":
            try:
                model.generate([model.config.vocab_size + 7], config)
            except hyperion_otel.HyperionError as exc:
                result.update(error_type=type(exc).__name__, error=str(exc))
        else:
            generation = model.generate(prompt, config)
            result.update(
                output_tokens=len(generation.token_ids), finish_reason=generation.finish_reason
            )
    result["lost"] = telemetry.shutdown().total_lost
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "Once upon a time")))
