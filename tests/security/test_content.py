"""Prompt and output text leave the process only when the user opts in with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.

Everything a real collector receives (span names, attributes, events, status, log
bodies and attributes, metric attributes) and everything written locally (log file,
OTLP-JSON files) is searched for the prompt and for the generated text.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

import hyperion_otel.sdk as sdk
from hyperion_otel.errors import HyperionError
from hyperion_otel.runtime import GenerationConfig, Model, load_model
from hyperion_otel.settings import Settings

from otlp_receiver import OTLPReceiver

CANARY = "The zebra canary QX7 wrote"


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model("builtin:tiny")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


def _exported_text(rx: OTLPReceiver, local: Path) -> str:
    parts: list[str] = []
    for s in rx.spans:
        parts += [s.name, s.status_message, *_strings(s.attributes)]
        for e in s.events:
            parts += [e.name, *_strings(e.attributes)]
    for r in rx.logs:
        parts += [*_strings(r.body), *_strings(r.attributes), r.event_name]
    for m in rx.metrics:
        parts += [m.name, *(s for p in m.points for s in _strings(p.attributes))]
    for f in local.rglob("*"):
        if f.is_file() and not f.name.endswith((".gz", ".lock")):
            parts.append(f.read_text("utf-8", "replace"))
    return "\n".join(parts)


def _run(
    rx: OTLPReceiver,
    tmp_path: Path,
    tiny: Model,
    prompt: str,
    *,
    capture: bool,
    debug: bool = False,
) -> tuple[str, str | None]:
    """Generate ``prompt`` with telemetry to ``rx`` and local files; returns (everything
    exported, generated text or None if generate raised)."""
    sdk.configure(
        Settings(
            otlp_endpoint=rx.http_endpoint,
            otlp_protocol="http/protobuf",
            output_dir=str(tmp_path),
            log_outputs=("file", "otlp"),
            log_level="debug",
            capture_message_content=capture,
            generation_debug=debug,
        )
    )
    text: str | None = None
    with contextlib.suppress(HyperionError):
        text = tiny.generate(prompt, GenerationConfig(temperature=0.0, max_new_tokens=24)).text
    sdk.shutdown()
    rx.wait_for_spans(1)
    return _exported_text(rx, tmp_path), text


def _output_windows(text: str, width: int = 12) -> list[str]:
    """Every ``width``-character piece of the generated text (single words such as
    "server" occur in telemetry names; a 12-character run of output does not)."""
    return [text[i : i + width] for i in range(max(1, len(text) - width + 1))]


def test_prompt_and_output_not_exported_by_default(
    otlp_receiver: OTLPReceiver, tmp_path: Path, tiny: Model
) -> None:
    exported, text = _run(otlp_receiver, tmp_path, tiny, CANARY, capture=False)
    assert text
    assert "text_completion" in exported  # the generation was exported...
    assert "QX7" not in exported and CANARY not in exported  # ...without its prompt
    assert text not in exported
    assert [w for w in _output_windows(text) if w in exported] == []


def test_opted_in_content_is_exported(
    otlp_receiver: OTLPReceiver, tmp_path: Path, tiny: Model
) -> None:
    """The positive control: with the opt-in the same search finds both texts."""
    exported, text = _run(otlp_receiver, tmp_path, tiny, CANARY, capture=True)
    assert text and CANARY in exported
    assert text.strip()[:10] in exported


def test_a_failing_generation_does_not_export_its_prompt(
    otlp_receiver: OTLPReceiver, tmp_path: Path, tiny: Model
) -> None:
    """A prompt longer than the context fails; the recorded error must not quote it."""
    exported, text = _run(otlp_receiver, tmp_path, tiny, CANARY * 20, capture=False)
    assert text is None
    assert "ERROR" in exported or "error" in exported
    assert "QX7" not in exported


def test_generation_debug_does_not_export_output_text_without_opt_in(
    otlp_receiver: OTLPReceiver, tmp_path: Path, tiny: Model
) -> None:
    _run(otlp_receiver, tmp_path, tiny, CANARY, capture=False, debug=True)
    steps = [str(r.body) for r in otlp_receiver.logs if "generation step" in str(r.body)]
    assert steps  # debug records were exported
    pieces = "".join(re.findall(r"sampled '(.*?)'\(", "\n".join(steps)))
    assert len(pieces) < 6, f"output text readable from debug logs: {pieces!r}"
