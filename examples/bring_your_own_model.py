"""Bring your own model: a transformers model gets the telemetry of our own runtime.

In code, as below; or with no code change at all (the instrumentor is an entry point):

    OTEL_PYTHON_DISTRO=hyperion OTEL_PYTHON_CONFIGURATOR=hyperion \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 opentelemetry-instrument python app.py

Needs `pip install torch transformers` (the `transformers` extra). To stay offline this
builds a small random GPT-2; with a real one, `AutoModelForCausalLM.from_pretrained("gpt2")`.
"""

from __future__ import annotations

import tempfile

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

import hyperion_otel as h
from hyperion_otel.integrations.transformers import TransformersInstrumentor


def tiny_gpt2(directory: str) -> str:
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=128)
    GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


def main() -> None:
    telemetry = h.configure()  # local OTLP-JSON files in HYPERION_OUTPUT_DIR by default
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            model = AutoModelForCausalLM.from_pretrained(tiny_gpt2(tmp))
        h.set_resource_limits(model, h.ResourceLimits(max_threads=1))
        prompts = torch.tensor([[5, 6, 7, 8], [0, 0, 9, 10]])  # a batch: one span, usage summed
        mask = (prompts != 0).long()  # left padding with pad id 0
        with h.profiling():
            out = model.generate(
                prompts, attention_mask=mask, pad_token_id=0, max_new_tokens=24, do_sample=False
            )
        print("generated", tuple(out.shape), "ids; threads now", torch.get_num_threads())
        for spot in h.get_hotspots(top=3).hotspots:
            print(f"hotspot {spot.name} ({spot.file.rsplit('/', 1)[-1]}:{spot.line})")
    finally:
        instrumentor.uninstrument()  # GenerationMixin.generate is the original again
        telemetry.shutdown()


if __name__ == "__main__":
    main()
