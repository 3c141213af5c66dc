"""The span-hooks seam: facilities add to the runtime's spans only while they are on, each
hook sees its span while it is still recording, and every registration has an undo."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

from opentelemetry.trace import Span

from hyperion_otel import profiler as prof, semconv
from hyperion_otel._seams import span_hooks
from hyperion_otel.memory import init_memory, shutdown_memory
from hyperion_otel.runtime import GenerationConfig, load_model

CFG = GenerationConfig(temperature=0.0, max_new_tokens=3)


def test_importing_the_package_registers_no_hook() -> None:
    code = (
        "import hyperion_otel, hyperion_otel.memory, hyperion_otel.profiler, "
        "hyperion_otel.runtime\n"
        "from hyperion_otel._seams import span_hooks\n"
        "print(len(span_hooks._hooks))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_memory_and_profiler_hooks_live_while_the_facility_is_on(telemetry, byte_llama) -> None:
    model = load_model(byte_llama.path)
    assert span_hooks._hooks == ()
    init_memory()
    prof.start_profiling()
    try:
        assert len(span_hooks._hooks) == 2
        model.generate("ab", CFG)
    finally:
        prof.stop_profiling()
        shutdown_memory()
    assert span_hooks._hooks == ()
    request = telemetry.span(f"text_completion {model.name}")
    assert semconv.HYPERION_PROFILE_ID in request.attributes
    for span in (
        request,
        telemetry.span(semconv.SPAN_PREFILL),
        telemetry.span(semconv.SPAN_DECODE),
    ):
        assert span.attributes[semconv.HYPERION_MEMORY_PEAK_BYTES] > 0, span.name
    telemetry.ctx.clear()
    model.generate("ab", CFG)  # both off: nothing added
    request = telemetry.span(f"text_completion {model.name}")
    assert semconv.HYPERION_PROFILE_ID not in request.attributes
    assert semconv.HYPERION_MEMORY_PEAK_BYTES not in request.attributes


def test_a_hook_sees_each_span_open_with_its_role_and_its_undo_removes_it(
    telemetry, byte_llama
) -> None:
    seen: list[tuple[str, str, bool]] = []

    @contextmanager
    def hook_cm(span: Span, role: span_hooks.Role):
        try:
            yield
        finally:  # also when the call fails or the stream is closed early
            seen.append((span.name, role, span.is_recording()))  # before the span ends

    def hook(span: Span, role: span_hooks.Role):
        return hook_cm(span, role)

    model = load_model(byte_llama.path)
    undo = span_hooks.add(hook)
    try:
        with model.stream("ab", CFG) as stream:
            next(stream)  # closed early: the hooks still exit
    finally:
        undo()
    assert span_hooks._hooks == ()
    assert seen == [
        (semconv.SPAN_PREFILL, "phase", True),
        (semconv.SPAN_DECODE, "phase", True),
        (f"text_completion {model.name}", "request", True),
    ]
