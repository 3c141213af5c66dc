"""Zero-code: ``opentelemetry-instrument python app.py`` instruments transformers through the
entry point pyproject.toml declares; with transformers missing, everything still runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from hyperion_otel import semconv
from hyperion_otel._version import __version__
from integrations.tiny import Tiny

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "hyperion_otel.integrations.transformers:TransformersInstrumentor"

APP = """
import sys
import torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
out = model.generate(torch.tensor([[4, 5, 6]]), max_new_tokens=5, do_sample=False,
                     suppress_tokens=[2])
print("generated", out.shape[1] - 3)
"""


@pytest.fixture
def declared_entry_points(tmp_path: Path) -> Path:
    """A dist-info with the entry points of this tree's pyproject.toml, first on the path:
    it shadows the installed metadata, which may come from another checkout."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["opentelemetry_instrumentor"]["transformers"] == ENTRY
    site = tmp_path / "site"
    info = site / f"hyperion_otel-{__version__}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: hyperion-otel\nVersion: {__version__}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def _env(*paths: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), str(ROOT)])
    return {**env, **extra}


@pytest.mark.slow  # a subprocess that imports torch: ~10-30 s here
def test_opentelemetry_instrument_traces_transformers_generate(
    otlp_receiver, declared_entry_points: Path, tiny_gpt2: Tiny, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = _env(
        declared_entry_points,
        OTEL_PYTHON_DISTRO="hyperion",
        OTEL_PYTHON_CONFIGURATOR="hyperion",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_SERVICE_NAME="byo-model",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        HYPERION_OUTPUT_DIR=str(tmp_path / "out"),
        HYPERION_LOG_OUTPUT="file",
    )
    out = subprocess.run(
        ["opentelemetry-instrument", sys.executable, str(app), str(tiny_gpt2.path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "generated 5" in out.stdout
    assert otlp_receiver.wait_for(
        lambda: any(s.name == "text_completion tiny-gpt2" for s in otlp_receiver.spans), 10
    ), [s.name for s in otlp_receiver.spans]
    (span,) = [s for s in otlp_receiver.spans if s.name == "text_completion tiny-gpt2"]
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "transformers"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.resource["service.name"] == "byo-model"
    names = {s.name for s in otlp_receiver.spans}
    assert {semconv.SPAN_PREFILL, semconv.SPAN_DECODE} <= names
    otlp_receiver.wait_for_metric(semconv.METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN, timeout=10)


@pytest.fixture
def no_transformers(tmp_path: Path) -> Path:
    """A path entry where ``import transformers`` fails as for a package not installed."""
    hide = tmp_path / "hide"
    (hide / "transformers").mkdir(parents=True)
    (hide / "transformers" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'transformers'\", name='transformers')\n"
    )
    return hide


def test_without_transformers_import_and_opentelemetry_instrument_still_work(
    declared_entry_points: Path, no_transformers: Path, tmp_path: Path
) -> None:
    check = (
        "import importlib.util, sys\n"
        "import hyperion_otel.integrations.transformers as t\n"
        "assert 'transformers' not in sys.modules and 'torch' not in sys.modules\n"
        "print('imported', t.TransformersInstrumentor().instrumentation_dependencies())\n"
    )
    env = _env(declared_entry_points, no_transformers)
    out = subprocess.run(
        [sys.executable, "-c", check],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "imported ('transformers >= 4.50',)" in out.stdout

    app = tmp_path / "plain.py"
    app.write_text("print('app ran')\n")
    env["OTEL_PYTHON_DISTRO"] = env["OTEL_PYTHON_CONFIGURATOR"] = "hyperion"
    env["OTEL_TRACES_EXPORTER"] = env["OTEL_METRICS_EXPORTER"] = "none"
    env["OTEL_LOGS_EXPORTER"] = "none"
    env["HYPERION_OUTPUT_DIR"] = str(tmp_path / "out")
    out = subprocess.run(
        ["opentelemetry-instrument", sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "app ran"
    assert "Traceback" not in out.stderr and "transformers" not in out.stderr


LATE_IMPORT = """
import sys
from hyperion_otel.integrations._post_import import PostImportHook
from hyperion_otel.integrations.transformers import TransformersInstrumentor

meta = list(sys.meta_path)
inst = TransformersInstrumentor()
inst.instrument()
inst.uninstrument()  # before transformers is imported: the hook goes, nothing patched
assert sys.meta_path == meta, sys.meta_path
inst.instrument()
assert "transformers" not in sys.modules and "torch" not in sys.modules
assert isinstance(sys.meta_path[0], PostImportHook)

import transformers.generation.utils as gu  # the application's import: patched now
# The hook removed itself (transformers adds a finder of its own on import).
assert not [f for f in sys.meta_path if isinstance(f, PostImportHook)], sys.meta_path
assert "_post_import" not in type(gu.__loader__).__module__
assert gu.__spec__.loader is gu.__loader__
original = gu.GenerationMixin.generate.__wrapped__
assert vars(gu.GenerationMixin)["generate"] is not original
inst.uninstrument()
assert vars(gu.GenerationMixin)["generate"] is original
print("late import patched and restored")
"""


@pytest.mark.slow  # a subprocess that imports torch
def test_instrument_before_transformers_is_imported_patches_at_its_import() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LATE_IMPORT],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "late import patched and restored" in out.stdout
