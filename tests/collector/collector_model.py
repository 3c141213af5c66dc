"""What the pinned Collector accepts, and a structural check of a Collector config.

The Collector binary that runs here (``otelcol.py``) is an older release holding a few
components, so the rules the pinned release's ``otelcol-contrib validate`` applies to
our files are written down too: its component types with the signals each supports,
the deprecated aliases it still accepts, the confmap ``${env:NAME:-default}`` syntax,
and the pipeline wiring rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"

COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"
COLLECTOR_VERSION = "0.159.0"

ALL = frozenset({"traces", "metrics", "logs"})
# Component types of otelcol-contrib 0.159.0 that these configs use -> supported signals.
COMPONENTS: dict[str, dict[str, frozenset[str]]] = {
    "receivers": {
        "otlp": ALL,
        "file_log": frozenset({"logs"}),
        "otlp_json_file": ALL,
    },
    "processors": {
        "memory_limiter": ALL,
        "batch": ALL,
        "tail_sampling": frozenset({"traces"}),
    },
    "exporters": {
        "otlp_grpc": ALL,
        "otlp_http": ALL,
        "debug": ALL,
        "load_balancing": ALL,
    },
    "extensions": {
        "health_check": frozenset(),
        "file_storage": frozenset(),
    },
}
# Old names still accepted (with a warning) by 0.159.0; our files must not use them.
DEPRECATED_ALIASES = {
    ("exporters", "otlp"): "otlp_grpc",  # v0.144.0
    ("exporters", "otlphttp"): "otlp_http",  # v0.144.0
    ("receivers", "filelog"): "file_log",  # v0.149.0
    ("exporters", "loadbalancing"): "load_balancing",  # v0.153.0
    ("receivers", "otlpjsonfile"): "otlp_json_file",  # v0.154.0
    ("exporters", "prometheusremotewrite"): "prometheus_remote_write",  # v0.154.0
}

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ANY_DOLLAR = re.compile(r"\$(?!\{env:)")


def load(name: str) -> dict[str, Any]:
    with (CONFIG_DIR / name).open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict), f"{name}: top level is not a mapping"
    return doc


def component_type(component_id: str) -> str:
    """``otlp_grpc/traces`` -> ``otlp_grpc`` (the part after / only names the instance)."""
    return component_id.split("/", 1)[0]


def expand_env(value: Any, environ: Mapping[str, str]) -> Any:
    """Expand ``${env:NAME:-default}`` the way the Collector's confmap does, recursively."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    return value


def env_references(value: Any) -> list[tuple[str, str | None]]:
    """Every ``${env:NAME[:-default]}`` in the config: (name, default or None)."""
    found: list[tuple[str, str | None]] = []
    if isinstance(value, str):
        found += [(m.group(1), m.group(2)) for m in _ENV_REF.finditer(value)]
    elif isinstance(value, list):
        for v in value:
            found += env_references(v)
    elif isinstance(value, dict):
        for v in value.values():
            found += env_references(v)
    return found


def stray_dollars(value: Any, path: str = "") -> list[str]:
    """Strings with a ``$`` that is not an ``${env:...}`` reference (confmap would expand
    or reject it)."""
    out: list[str] = []
    if isinstance(value, str):
        if _ANY_DOLLAR.search(value):
            out.append(f"{path}: {value!r}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += stray_dollars(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            out += stray_dollars(v, f"{path}.{k}")
    return out


def problems(cfg: dict[str, Any]) -> list[str]:
    """Everything `otelcol validate` would reject, plus unused components."""
    errs: list[str] = []
    defined: dict[str, dict[str, Any]] = {}
    for kind in ("receivers", "processors", "exporters", "extensions", "connectors"):
        section = cfg.get(kind) or {}
        if not isinstance(section, dict):
            errs.append(f"{kind} is not a mapping")
            continue
        defined[kind] = section
        for cid in section:
            ctype = component_type(cid)
            if (kind, ctype) in DEPRECATED_ALIASES:
                errs.append(
                    f"{kind}.{cid}: deprecated alias, use {DEPRECATED_ALIASES[(kind, ctype)]}"
                )
            elif ctype not in COMPONENTS.get(kind, {}):
                errs.append(
                    f"{kind}.{cid}: type {ctype!r} not known for otelcol-contrib {COLLECTOR_VERSION}"
                )

    service = cfg.get("service") or {}
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        errs.append("service.pipelines is empty")
    used: dict[str, set[str]] = {k: set() for k in ("receivers", "processors", "exporters")}
    for pname, pipe in pipelines.items():
        signal = component_type(pname)
        if signal not in ALL:
            errs.append(f"pipeline {pname}: unknown signal {signal!r}")
            continue
        for kind in ("receivers", "processors", "exporters"):
            refs = pipe.get(kind) or []
            if kind != "processors" and not refs:
                errs.append(f"pipeline {pname}: no {kind}")
            if len(refs) != len(set(refs)):
                errs.append(f"pipeline {pname}: duplicate {kind} {refs}")
            for ref in refs:
                used[kind].add(ref)
                if ref not in defined.get(kind, {}):
                    errs.append(f"pipeline {pname}: {kind[:-1]} {ref!r} is not defined")
                    continue
                signals = COMPONENTS.get(kind, {}).get(component_type(ref), ALL)
                if signal not in signals:
                    errs.append(f"pipeline {pname}: {ref} does not support {signal}")
        procs = pipe.get("processors") or []
        if procs and component_type(procs[0]) != "memory_limiter":
            errs.append(f"pipeline {pname}: memory_limiter must come first, got {procs}")
        if "batch" in map(component_type, procs) and component_type(procs[-1]) != "batch":
            errs.append(f"pipeline {pname}: batch must come last (after sampling), got {procs}")
    for kind in ("receivers", "processors", "exporters"):
        errs += [
            f"{kind}.{cid} is defined but used by no pipeline"
            for cid in defined.get(kind, {})
            if cid not in used[kind]
        ]

    enabled_ext = service.get("extensions") or []
    errs += [
        f"service.extensions: {ext!r} is not defined"
        for ext in enabled_ext
        if ext not in defined.get("extensions", {})
    ]
    errs += [
        f"extensions.{ext} is defined but not enabled in service.extensions"
        for ext in defined.get("extensions", {})
        if ext not in enabled_ext
    ]
    for kind in ("receivers", "exporters"):
        for cid, body in defined.get(kind, {}).items():
            storage = (body or {}).get("storage") if isinstance(body, dict) else None
            if storage is not None and storage not in enabled_ext:
                errs.append(f"{kind}.{cid}: storage {storage!r} is not an enabled extension")
    return errs


_COMPOSE_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def compose_default(text: str) -> str:
    """A compose value with every ``${VAR:-default}`` at its default (what runs when the
    variable is unset)."""
    return _COMPOSE_VAR.sub(lambda m: m.group(2) or "", text)


def compose_volume(spec: str) -> tuple[str, str]:
    """``host:container[:mode]`` of a short-syntax compose volume, defaults applied."""
    src, dst = compose_default(spec).split(":")[:2]
    return src, dst


def exporter_endpoints(cfg: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Exporter id -> endpoint after env expansion (load_balancing: its resolver host)."""
    out: dict[str, str] = {}
    for cid, raw in (cfg.get("exporters") or {}).items():
        body = expand_env(raw or {}, environ)
        if "endpoint" in body:
            out[cid] = body["endpoint"]
        elif component_type(cid) == "load_balancing":
            resolver = body["resolver"]
            if "dns" in resolver:
                out[cid] = f"{resolver['dns']['hostname']}:{resolver['dns'].get('port', '4317')}"
            else:
                out[cid] = ",".join(resolver["static"]["hostnames"])
    return out
