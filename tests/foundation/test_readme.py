"""The README's environment-variable table matches settings.py, so the two cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from hyperion_otel.settings import ENV_VARS

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- env-table:start -->")[1].split("<!-- env-table:end -->")[0]
    rows = {}
    for line in block.splitlines():
        m = re.match(r"\| `([A-Z0-9_]+)` \| ([^|]*) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def test_every_variable_is_documented_with_its_default() -> None:
    rows = _table_rows()
    assert set(rows) == {v.name for v in ENV_VARS}
    for var in ENV_VARS:
        assert rows[var.name] == var.default_doc, var.name


def test_readme_gives_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install -e . && hyperion-otel generate --model builtin:tiny" in text
    assert 'pip install -e ".[dev]" && python -m pytest' in text
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[dev]" && python -m pytest' in ci


def test_jaeger_operation_is_the_generate_span_name() -> None:
    """The README tells the reader which operation to pick in Jaeger: the name of the span a
    ``generate --model builtin:tiny`` makes."""
    from hyperion_otel import semconv
    from hyperion_otel.runtime import GenerationConfig, load_model
    from hyperion_otel.testing import create_test_context

    text = README.read_text(encoding="utf-8")
    m = re.search(r"Jaeger at <[^>]+> \(service `[^`]+`, operation\s+`([^`]+)`\)", text)
    assert m, "the README's Jaeger sentence changed"
    with create_test_context() as ctx:
        load_model("builtin:tiny").generate("hi", GenerationConfig(max_new_tokens=1))
        names = [s.name for s in ctx.spans if semconv.GEN_AI_OPERATION_NAME in s.attributes]
    assert names == [m.group(1)]
