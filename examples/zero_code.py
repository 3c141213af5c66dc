"""Zero-code: an application that only generates; telemetry comes from the environment.

Run it under `opentelemetry-instrument` and every span, metric and log goes to your
collector, with the `HYPERION_*` facilities switched on by variables alone:

    OTEL_PYTHON_DISTRO=hyperion OTEL_PYTHON_CONFIGURATOR=hyperion \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_SERVICE_NAME=my-app \\
    HYPERION_MEMORY_TRACKING=true \\
    opentelemetry-instrument python examples/zero_code.py

Run plainly (`python examples/zero_code.py`) it generates with no telemetry at all.
"""

from __future__ import annotations

from hyperion_otel.runtime import GenerationConfig, load_model


def main() -> None:
    model = load_model("builtin:tiny")
    gen = model.generate("The function returns", GenerationConfig(max_new_tokens=24, temperature=0))
    print(repr(gen.text), gen.finish_reason, f"{gen.usage.output_tokens} tokens")


if __name__ == "__main__":
    main()
