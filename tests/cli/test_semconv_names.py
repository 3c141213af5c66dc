"""Every name hyperion-otel emits matches the OpenTelemetry semantic conventions: checked
against the installed ``opentelemetry-semantic-conventions`` package, not a list written
here. A generate (with ``--debug``), a profile, a failing request and memory tracking run
in separate processes; every attribute key (resource, span, span event, log record, metric
point), metric name and event name in their OTLP-JSON files must be a name of the package
that it does not mark deprecated, or start with ``hyperion.``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.semconv import schemas

import hyperion_otel.semconv as ours

ROOT = Path(__file__).resolve().parents[2]
_SEMCONV_DIR = Path(schemas.__file__).parent
_GENAI_MOVE = "Moved to the [OpenTelemetry GenAI semantic conventions repository]"
_DEFINITION = re.compile(r'^([A-Z][A-Z0-9_]*): Final = "([a-z0-9_.]+)"\n(?:"""\s*\n?(.*))?', re.M)


def semconv_names() -> tuple[set[str], set[str]]:
    """(names, deprecated names) defined as constants anywhere in the semconv package."""
    names: set[str] = set()
    deprecated: set[str] = set()
    for path in _SEMCONV_DIR.rglob("*.py"):
        for _const, value, doc in _DEFINITION.findall(path.read_text(encoding="utf-8")):
            names.add(value)
            # GenAI names are marked "Deprecated: Moved to the ... GenAI semantic conventions
            # repository" in 0.66: they moved, with their names, and are current there.
            if doc.lstrip().startswith("Deprecated") and _GENAI_MOVE not in doc:
                deprecated.add(value)
    # A name deprecated in one module and current in another (e.g. promoted to stable)
    # is current: the stable modules do not carry deprecated names.
    return names, deprecated - _stable_names()


def _stable_names() -> set[str]:
    out: set[str] = set()
    for sub in ("attributes", "metrics"):
        for path in (_SEMCONV_DIR / sub).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            out |= {v for _c, v, d in _DEFINITION.findall(text) if not d.startswith("Deprecated")}
    return out


def _kv_keys(kvs: list[dict]) -> set[str]:
    return {kv["key"] for kv in kvs or []}


def emitted_names(folder: Path) -> dict[str, set[str]]:
    """Names by kind, read straight from the OTLP-JSON files of ``folder``."""
    found: dict[str, set[str]] = {k: set() for k in ("attribute", "metric", "event")}
    attr, metric, event = found["attribute"], found["metric"], found["event"]
    for line in (folder / "traces.jsonl").read_text().splitlines():
        for rs in json.loads(line).get("resourceSpans", []):
            attr |= _kv_keys(rs.get("resource", {}).get("attributes"))
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    attr |= _kv_keys(span.get("attributes"))
                    for ev in span.get("events", []):
                        event.add(ev["name"])
                        attr |= _kv_keys(ev.get("attributes"))
    for line in (folder / "logs.jsonl").read_text().splitlines():
        for rl in json.loads(line).get("resourceLogs", []):
            attr |= _kv_keys(rl.get("resource", {}).get("attributes"))
            for sl in rl.get("scopeLogs", []):
                for rec in sl.get("logRecords", []):
                    attr |= _kv_keys(rec.get("attributes"))
                    if rec.get("eventName"):
                        event.add(rec["eventName"])
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        for rm in json.loads(line).get("resourceMetrics", []):
            attr |= _kv_keys(rm.get("resource", {}).get("attributes"))
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    metric.add(m["name"])
                    for kind in ("sum", "gauge", "histogram", "exponentialHistogram"):
                        for p in m.get(kind, {}).get("dataPoints", []):
                            attr |= _kv_keys(p.get("attributes"))
    return found


def _run(args: list[str], out: Path, **env_extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    env |= {"PYTHONPATH": str(ROOT), "HYPERION_OUTPUT_DIR": str(out), **env_extra}
    proc = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def folder(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("names") / "out"
    # Requests, a failing one, a profiled one, memory tracking, a leak check.
    _run([str(Path(__file__).with_name("make_run.py")), str(tiny_model), str(out)], out)
    cli = ["-m", "hyperion_otel"]
    _run(
        [
            *cli,
            "generate",
            "--model",
            "builtin:tiny",
            "--prompt",
            "ab",
            "--max-new-tokens",
            "4",
            "--debug",
        ],
        out,
        HYPERION_MEMORY_TRACKING="true",
        HYPERION_LOG_OUTPUT="file,otlp",
    )
    _run(
        [*cli, "profile", "--prompt", "ab", "--max-new-tokens", "4", "-o", str(out / "p.json")], out
    )
    return out


def test_every_emitted_name_is_a_current_semconv_name_or_hyperion(folder: Path) -> None:
    names, deprecated = semconv_names()
    assert "gen_ai.client.token.usage" in names and "exception.escaped" in deprecated  # sanity
    found = emitted_names(folder)
    assert "gen_ai.request.model" in found["attribute"]  # the runs did emit
    assert ours.METRIC_GEN_AI_CLIENT_OPERATION_DURATION in found["metric"]
    bad = {
        kind: sorted(
            n for n in got if not n.startswith("hyperion.") and (n not in names or n in deprecated)
        )
        for kind, got in found.items()
        if kind != "event"
    }
    assert bad == {"attribute": [], "metric": []}
    # Event names: ours, or the exception event of the trace conventions.
    assert {e for e in found["event"] if not e.startswith("hyperion.")} <= {"exception"}


def test_schema_url_covers_every_name() -> None:
    """The scope schema URL is a schema the package knows, and no older than 1.39.0, the
    first to name ``process.unix.file_descriptor.count``."""
    assert ours.SCHEMA_URL in {s.value for s in schemas.Schemas}
    version = tuple(int(x) for x in ours.SCHEMA_URL.rsplit("/", 1)[1].split("."))
    assert version >= (1, 39, 0)


def test_model_load_span_does_not_look_like_an_llm_call(folder: Path) -> None:
    """GenAI backends (MLflow) show any span with ``gen_ai.request.model`` as a model call:
    only the generate span carries GenAI attributes."""
    for line in (folder / "traces.jsonl").read_text().splitlines():
        for rs in json.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    keys = _kv_keys(span.get("attributes"))
                    if any(k.startswith("gen_ai.") for k in keys):
                        assert span["name"].startswith(ours.GEN_AI_OPERATION_TEXT_COMPLETION), (
                            span["name"],
                            keys,
                        )
