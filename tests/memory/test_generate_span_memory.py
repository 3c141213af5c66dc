"""Generation with the pool installed sets the bytes allocated and the peak on its spans."""

from __future__ import annotations

import hyperion_otel as h
from hyperion_otel import memory, semconv
from hyperion_otel.testing import create_test_context


def test_generate_prefill_and_decode_spans_carry_pool_memory() -> None:
    with create_test_context() as ctx:
        h.init_memory(h.MemoryConfig(track_allocations=True))
        try:
            model = h.load_model("builtin:tiny")
            model.generate("def ", h.GenerationConfig(max_new_tokens=4, temperature=0))
        finally:
            memory.shutdown_memory()
    gen = next(s for s in ctx.spans if s.name.startswith("text_completion"))
    prefill = ctx.span(semconv.SPAN_PREFILL)
    decode = ctx.span(semconv.SPAN_DECODE)
    for span in (gen, prefill, decode):
        assert span.attributes[semconv.HYPERION_MEMORY_PEAK_BYTES] > 0, span.name
    assert prefill.attributes[semconv.HYPERION_MEMORY_ALLOCATED_BYTES] > 0
    assert (
        gen.attributes[semconv.HYPERION_MEMORY_ALLOCATED_BYTES]
        >= prefill.attributes[semconv.HYPERION_MEMORY_ALLOCATED_BYTES]
    )
