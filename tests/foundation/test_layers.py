"""Import contracts of the package's layers (DESIGN.md: cli -> sdk -> facilities -> seams;
runtime -> seams), read from the source: every import statement of every module, including
imports inside functions and under ``TYPE_CHECKING``. A failure names each offending import
as ``file:line``.

Units: each top-level module or package of ``hyperion_otel`` is one unit, except
``errors._types``, which stands alone: ``settings`` imports the error types, and the error
recording in ``errors`` reads settings lazily, so the two meet without a cycle.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import hyperion_otel

PACKAGE_DIR = Path(hyperion_otel.__file__).resolve().parent
PKG = "hyperion_otel"

# Units that import nothing of the runtime (``integrations`` instruments other runtimes).
FACILITIES = (
    "api",
    "cleanup",
    "errors",
    "errors._types",
    "integrations",
    "logging",
    "memory",
    "profiler",
    "report",
    "resources",
    "semconv",
    "settings",
    "validation",
)
# What the runtime may import besides itself: the seams and the foundations.
RUNTIME_MAY_IMPORT = (
    "runtime",
    "_seams",
    "errors",
    "errors._types",
    "settings",
    "semconv",
    "validation",
    "_version",
)
SEAMS_MAY_IMPORT = ("_seams", "semconv", "_version")
# Units allowed to import opentelemetry.sdk, each with its reason.
SDK_IMPORTERS = {
    "sdk": "the layer that builds the OTel SDK pipelines",
    "testing": "create_test_context() installs in-memory SDK providers and restores the old ones",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (``from pkg import sub`` gives ``pkg.sub``)
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.where}: {self.module} imports {self.target}"


def module_files(root: Path, pkg: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [pkg, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def read_imports(root: Path, pkg: str) -> list[Import]:
    """Every import statement under ``root`` (the directory of package ``pkg``)."""
    files = module_files(root, pkg)
    found = []
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        where_prefix = f"{pkg}/{path.relative_to(root).as_posix()}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = module.split(".") if is_package else module.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, *([node.module] if node.module else [])])
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                ]
            found.extend(
                Import(module, t, f"{where_prefix}:{node.lineno}") for t in dict.fromkeys(targets)
            )
    return found


@functools.cache
def package_imports() -> tuple[Import, ...]:
    return tuple(read_imports(PACKAGE_DIR, PKG))


def unit(module: str, pkg: str = PKG) -> str | None:
    """The unit of a module of ``pkg`` (without the ``pkg.`` prefix; ``""`` is the package's
    ``__init__``), or None for a module outside the package."""
    if module != pkg and not module.startswith(pkg + "."):
        return None
    rest = module[len(pkg) + 1 :]
    if rest == "errors._types" or rest.startswith("errors._types."):
        return "errors._types"
    return rest.split(".")[0]


def violations(
    imports: Iterable[Import], applies_to: Iterable[str], allowed: Iterable[str], pkg: str = PKG
) -> list[Import]:
    """Imports of our modules by modules of ``applies_to`` units that land outside ``allowed``."""
    sources, ok = set(applies_to), set(allowed)
    return [
        i
        for i in imports
        if unit(i.module, pkg) in sources and (u := unit(i.target, pkg)) is not None and u not in ok
    ]


def cycles(imports: Iterable[Import], pkg: str = PKG) -> list[list[Import]]:
    """One import chain per cycle between units (Tarjan's strongly connected components)."""
    edges: dict[str, dict[str, Import]] = {}
    for i in imports:
        a, b = unit(i.module, pkg), unit(i.target, pkg)
        if a is not None and b is not None and a != b:
            edges.setdefault(a, {}).setdefault(b, i)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    comps: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            comps.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    chains = []
    for comp in comps:
        if len(comp) < 2:
            continue
        start = min(comp)
        # Shortest way round from ``start`` back to itself, inside the component.
        paths: dict[str, list[Import]] = {start: []}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w, how in sorted(edges.get(v, {}).items()):
                if w in comp and w == start:
                    chains.append([*paths[v], how])
                    queue = []
                    break
                if w in comp and w not in paths:
                    paths[w] = [*paths[v], how]
                    queue.append(w)
    return chains


def _report(rule: str, bad: list[Import]) -> str:
    return f"{rule}:\n" + "\n".join(f"  {i}" for i in bad)


# --- the contracts ---------------------------------------------------------------------------
def test_only_the_sdk_layer_imports_the_otel_sdk() -> None:
    bad = [
        i
        for i in package_imports()
        if (i.target == "opentelemetry.sdk" or i.target.startswith("opentelemetry.sdk."))
        and unit(i.module) not in SDK_IMPORTERS
    ]
    assert not bad, _report(f"only {sorted(SDK_IMPORTERS)} may import opentelemetry.sdk", bad)


def test_facilities_never_import_the_runtime() -> None:
    bad = [
        i for i in package_imports() if unit(i.module) in FACILITIES and unit(i.target) == "runtime"
    ]
    assert not bad, _report("facilities must not import hyperion_otel.runtime", bad)


def test_the_runtime_reaches_facilities_only_through_seams() -> None:
    bad = violations(package_imports(), ["runtime"], RUNTIME_MAY_IMPORT)
    assert not bad, _report(f"the runtime may import only {RUNTIME_MAY_IMPORT}", bad)


def test_seams_import_nothing_above_them() -> None:
    bad = violations(package_imports(), ["_seams"], SEAMS_MAY_IMPORT)
    assert not bad, _report(f"_seams may import only {SEAMS_MAY_IMPORT}", bad)


def test_error_types_import_nothing_of_ours() -> None:
    bad = violations(package_imports(), ["errors._types"], ["errors._types"])
    assert not bad, _report("hyperion_otel.errors._types must import nothing of ours", bad)


def test_no_cycles_between_units() -> None:
    found = cycles(package_imports())
    assert not found, "import cycles between units:\n" + "\n".join(
        "  "
        + " -> ".join(unit(i.module) or "" for i in chain)
        + f" -> {unit(chain[-1].target)}\n"
        + "\n".join(f"    {i}" for i in chain)
        for chain in found
    )


def test_function_level_imports_of_the_package_are_read() -> None:
    # Model.generate imports the generate module inside the method (a lazy import).
    lazy = [
        i
        for i in package_imports()
        if i.module == "hyperion_otel.runtime.model"
        and i.target == "hyperion_otel.runtime.generate"
    ]
    lines = (PACKAGE_DIR / "runtime" / "model.py").read_text().splitlines()
    inside = next(
        n
        for n, line in enumerate(lines, 1)
        if line.strip() == "from hyperion_otel.runtime.generate import run_to_completion"
    )
    assert f"hyperion_otel/runtime/model.py:{inside}" in {i.where for i in lazy}


# --- the checker, on a tree written here -----------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_function_level_relative_and_type_checking_imports(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "memory/__init__.py": "",
            "memory/pool.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.runtime.model import Model\n"
                "def f():\n"
                "    from ..runtime import generate\n"
                "    from . import spans\n"
            ),
            "memory/spans.py": "",
            "runtime/__init__.py": "",
            "runtime/model.py": "",
            "runtime/generate.py": "from pkg import memory\n",
        },
    )
    imports = read_imports(root, "pkg")
    bad = violations(imports, ["memory"], ["memory"], pkg="pkg")
    assert [str(i) for i in bad] == [
        "pkg/memory/pool.py:3: pkg.memory.pool imports pkg.runtime.model",
        "pkg/memory/pool.py:5: pkg.memory.pool imports pkg.runtime.generate",
    ]
    (chain,) = cycles(imports, pkg="pkg")
    assert [str(i) for i in chain] == [
        "pkg/memory/pool.py:3: pkg.memory.pool imports pkg.runtime.model",
        "pkg/runtime/generate.py:1: pkg.runtime.generate imports pkg.memory",
    ]
