"""Hugging Face transformers: ``generate`` gets the telemetry of our own runtime.

Zero-code: ``opentelemetry-instrument python app.py`` (the ``transformers`` entry point of
``opentelemetry_instrumentor``). In code::

    from hyperion_otel.integrations.transformers import TransformersInstrumentor

    TransformersInstrumentor().instrument()
    model.generate(**inputs)          # a GenAI span, its prefill/decode children, metrics
    TransformersInstrumentor().uninstrument()

Importing this package does not import transformers or torch.
"""

from __future__ import annotations

from hyperion_otel.integrations.transformers._instrumentor import TransformersInstrumentor

__all__ = ["TransformersInstrumentor"]
