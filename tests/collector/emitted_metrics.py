"""The metrics hyperion_otel emits, read from its source: name, unit and instrument kind.

Every instrument is created through the telemetry face (``_telemetry.histogram``,
``counter``, ``up_down_counter``, ``register_observable``) with a ``semconv`` constant as
its name, so walking the package's syntax trees finds all of them without running any
facility (some need a model, a pool or a configured SDK to emit anything).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from prom_names import Kind

from hyperion_otel import semconv

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "hyperion_otel"

_FACTORIES: dict[str, Kind] = {
    "histogram": "histogram",
    "counter": "counter",
    "up_down_counter": "up_down_counter",
}
_OBSERVABLE_KINDS: dict[str, Kind] = {
    "gauge": "gauge",
    "counter": "counter",
    "up_down_counter": "up_down_counter",
}


@dataclass(frozen=True)
class Instrument:
    name: str
    unit: str
    kind: Kind
    where: str


def _semconv_value(node: ast.expr) -> str | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "semconv"
    ):
        value = getattr(semconv, node.attr, None)
        return value if isinstance(value, str) else None
    return None


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _literal(node: ast.expr | None) -> str:
    """A string constant, or the value of a ``semconv`` constant (units live there too)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return (_semconv_value(node) or "") if node is not None else ""


def scan(package_dir: Path = PACKAGE_DIR) -> list[Instrument]:
    """Instruments created anywhere in the package with a semconv name."""
    found: list[Instrument] = []
    for path in sorted(package_dir.rglob("*.py")):
        # The factories in _seams/telemetry.py take the name as a variable: not matched;
        # its helpers that create one instrument by its semconv name are.
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute):
                func = node.func.attr
            elif isinstance(node.func, ast.Name):  # inside _seams/telemetry.py itself
                func = node.func.id
            else:
                continue
            name_node = _arg(node, 0, "name")
            name = _semconv_value(name_node) if name_node is not None else None
            if name is None:
                continue
            where = f"{path.relative_to(package_dir.parent)}:{node.lineno}"
            if func in _FACTORIES:
                unit = _literal(_arg(node, 1, "unit"))
                found.append(Instrument(name, unit, _FACTORIES[func], where))
            elif func == "register_observable":
                kind = _OBSERVABLE_KINDS.get(_literal(_arg(node, 1, "kind")))
                if kind is not None:
                    found.append(Instrument(name, _literal(_arg(node, 3, "unit")), kind, where))
    return found
