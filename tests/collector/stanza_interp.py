"""A small interpreter of the Collector's file_log receiver, for the operators we use.

No Collector binary runs here, so this applies ``agent.yaml``'s ``file_log`` receiver the
way otelcol-contrib's stanza code does (pkg/stanza: fileconsumer, helper/parser.go,
severity_builder.go, trace.go, time.go, scope_name.go, transformer/move and remove,
entry/attribute_field.go), and refuses anything else (an operator, option, layout or
``if`` expression it does not model raises ``UnsupportedError``) so that a config change
cannot pass untested.

Modelled: include globs; ``start_at: beginning``; ``compression: auto`` (gzip detected by
its magic bytes); fingerprints of the first ``fingerprint_size`` (decompressed) bytes,
so a file already read is continued from its offset when it reappears renamed or
compressed; ``include_file_name``; ``resource``; operators json_parser (with timestamp,
severity, trace and scope_name blocks), trace_parser, move and remove, with
``if: '<field> != nil'``; ``on_error: send`` (the default): a failing operator records
the error and the entry goes on unchanged by it.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

FINGERPRINT_SIZE = 1000  # fileconsumer's default "1kb"


class UnsupportedError(Exception):
    """The config uses something this interpreter does not model."""


@dataclass
class Entry:
    body: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None
    severity: int = 0
    severity_text: str = ""
    trace_id: bytes = b""
    span_id: bytes = b""
    trace_flags: bytes = b""
    scope_name: str = ""
    errors: list[str] = field(default_factory=list)


# --- fields ------------------------------------------------------------------------------

_FIELD_TOKEN = re.compile(r'\.?([A-Za-z0-9_\-@]+)|\["([^"]+)"\]')


def parse_field(text: str) -> tuple[str, list[str]]:
    """``attributes["a.b"].c`` -> ("attributes", ["a.b", "c"]); no prefix means body."""
    keys: list[str] = []
    pos = 0
    while pos < len(text):
        m = _FIELD_TOKEN.match(text, pos)
        if m is None:
            raise UnsupportedError(f"field syntax {text!r}")
        keys.append(m.group(1) or m.group(2))
        pos = m.end()
    if keys and keys[0] in ("attributes", "resource", "body"):
        return keys[0], keys[1:]
    return "body", keys


def _root(entry: Entry, kind: str) -> Any:
    return {"attributes": entry.attributes, "resource": entry.resource}.get(kind, entry.body)


def field_get(entry: Entry, text: str) -> tuple[Any, bool]:
    kind, keys = parse_field(text)
    value = _root(entry, kind)
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None, False
        value = value[key]
    return value, True


def field_set(entry: Entry, text: str, value: Any) -> None:
    kind, keys = parse_field(text)
    if kind == "body":
        if keys:
            raise UnsupportedError(f"setting nested body field {text!r}")
        entry.body = value
        return
    target = _root(entry, kind)
    for key in keys[:-1] if not isinstance(value, dict) else keys:
        nested = target.get(key)
        if not isinstance(nested, dict):
            nested = target[key] = {}
        target = nested
    if isinstance(value, dict):
        target.update(value)  # attribute/resource Set merges a map (entry/attribute_field.go)
    elif not keys:
        raise UnsupportedError(f"cannot set {kind} root to a non-map")
    else:
        target[keys[-1]] = value


def field_delete(entry: Entry, text: str) -> tuple[Any, bool]:
    kind, keys = parse_field(text)
    if not keys:
        raise UnsupportedError(f"deleting a whole {kind}")
    parent: Any = _root(entry, kind)
    for key in keys[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or keys[-1] not in parent:
        return None, False
    return parent.pop(keys[-1]), True


# --- embedded parsers --------------------------------------------------------------------

_GO_RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def parse_gotime_rfc3339nano(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"type {type(value).__name__} cannot be parsed as a time")
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise ValueError(f"{value!r} does not match {_GO_RFC3339NANO}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    tz = (
        timezone.utc
        if zone == "Z"
        else timezone(
            (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        )
    )
    micros = int((frac or "0").ljust(9, "0")[:6])
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=tz)


def _default_severity_map() -> dict[str, int]:
    names = ["trace", "debug", "info", "warn", "error", "fatal"]
    mapping: dict[str, int] = {}
    for i, name in enumerate(names):
        for step in range(4):
            number = i * 4 + step + 1
            mapping[name if step == 0 else f"{name}{step + 1}"] = number
            mapping[str(number)] = number
    for step, suffix in enumerate(["", "2", "3", "4"]):
        mapping["warning" + suffix] = 13 + step
        mapping["err" + suffix] = 17 + step
    return mapping


DEFAULT_SEVERITY = _default_severity_map()


def parse_severity(entry: Entry, cfg: dict[str, Any]) -> None:
    if set(cfg) - {"parse_from"}:
        raise UnsupportedError(f"severity options {sorted(set(cfg) - {'parse_from'})}")
    value, ok = field_get(entry, cfg["parse_from"])
    if not ok:
        raise ValueError("log entry does not have the expected parse_from field")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"type {type(value).__name__} cannot be a severity")
    if isinstance(value, float):
        if value != int(value):
            raise ValueError("severity must be a whole number")
        value = int(value)
    text = str(value)
    entry.severity = DEFAULT_SEVERITY.get(text.lower(), 0)
    entry.severity_text = text


def _go_value_string(value: Any) -> str:
    """Go's fmt ``%v`` for the JSON values stanza holds (numbers are float64)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _parse_hex(entry: Entry, source: str) -> bytes:
    value, ok = field_get(entry, source)
    if not ok:
        return b""
    text = _go_value_string(value)
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        raise ValueError(f"{source}: {text!r} is not hex")
    return bytes.fromhex(text)


def parse_trace(entry: Entry, cfg: dict[str, Any]) -> None:
    if set(cfg) - {"trace_id", "span_id", "trace_flags"}:
        raise UnsupportedError(f"trace options {sorted(cfg)}")
    sources = {
        k: (cfg.get(k) or {}).get("parse_from", f"body.{k}")
        for k in ("trace_id", "span_id", "trace_flags")
    }
    errors = []
    for key, source in sources.items():
        try:
            setattr(entry, key, _parse_hex(entry, source))
        except ValueError as exc:
            setattr(entry, key, b"")
            errors.append(str(exc))
    if errors:
        raise ValueError("Error decoding traces for logs: " + "; ".join(errors))


def parse_scope_name(entry: Entry, cfg: dict[str, Any]) -> None:
    value, ok = field_get(entry, cfg["parse_from"])
    if not ok:
        raise ValueError("log entry does not have the expected parse_from field")
    if not isinstance(value, str):
        raise ValueError("parse_from field does not contain a string")
    entry.scope_name = value


def parse_timestamp(entry: Entry, cfg: dict[str, Any]) -> None:
    if cfg.get("layout_type") != "gotime" or cfg.get("layout") != _GO_RFC3339NANO:
        raise UnsupportedError(f"timestamp layout {cfg.get('layout_type')}/{cfg.get('layout')}")
    if set(cfg) - {"parse_from", "layout_type", "layout"}:
        raise UnsupportedError(f"timestamp options {sorted(cfg)}")
    value, ok = field_get(entry, cfg["parse_from"])
    if not ok:
        raise ValueError("log entry does not have the expected parse_from field")
    entry.timestamp = parse_gotime_rfc3339nano(value)


# --- operators ---------------------------------------------------------------------------

_IF_NOT_NIL = re.compile(r"\s*([A-Za-z_][\w.\[\]\"]*)\s*!=\s*nil\s*")


def _condition(entry: Entry, expr: str | None) -> bool:
    if expr is None:
        return True
    m = _IF_NOT_NIL.fullmatch(expr)
    if m is None:
        raise UnsupportedError(f"if expression {expr!r}")
    value, ok = field_get(entry, m.group(1))
    return ok and value is not None


def _json_parser(entry: Entry, op: dict[str, Any]) -> None:
    known = {
        "type",
        "id",
        "parse_from",
        "parse_to",
        "timestamp",
        "severity",
        "trace",
        "scope_name",
        "on_error",
        "parse_ints",
    }
    if set(op) - known or op.get("on_error", "send") != "send":
        raise UnsupportedError(f"json_parser options {sorted(op)}")
    raw, ok = field_get(entry, op.get("parse_from", "body"))
    if not ok:
        raise ValueError("Entry is missing the expected parse_from field.")
    if not isinstance(raw, str):
        raise ValueError(f"type {type(raw).__name__} cannot be parsed as JSON")
    # go-json decodes every number as float64 unless parse_ints asks for int64 where exact.
    parsed = json.loads(raw) if op.get("parse_ints") else json.loads(raw, parse_int=float)
    if not isinstance(parsed, dict):
        raise ValueError("json_parser: not a JSON object")
    field_set(entry, op.get("parse_to", "attributes"), parsed)
    # helper/parser.go: all embedded parsers run, then the first error is reported.
    errors = []
    for key, parse in (
        ("timestamp", parse_timestamp),
        ("severity", parse_severity),
        ("trace", parse_trace),
        ("scope_name", parse_scope_name),
    ):
        if key in op:
            try:
                parse(entry, op[key])
            except ValueError as exc:
                errors.append(f"{key} parser: {exc}")
    if errors:
        raise ValueError(errors[0])


def _trace_parser(entry: Entry, op: dict[str, Any]) -> None:
    parse_trace(entry, {k: v for k, v in op.items() if k not in ("type", "id", "if")})


def _move(entry: Entry, op: dict[str, Any]) -> None:
    value, ok = field_delete(entry, op["from"])
    if not ok:
        raise ValueError(f"move: field does not exist: {op['from']}")
    field_set(entry, op["to"], value)


def _remove(entry: Entry, op: dict[str, Any]) -> None:
    _, ok = field_delete(entry, op["field"])
    if not ok:
        raise ValueError(f"remove: field does not exist: {op['field']}")


_OPERATORS = {
    "json_parser": _json_parser,
    "trace_parser": _trace_parser,
    "move": _move,
    "remove": _remove,
}
_OPTIONS = {
    "json_parser": set(),
    "trace_parser": {"trace_id", "span_id", "trace_flags"},
    "move": {"from", "to"},
    "remove": {"field"},
}


def run_operators(entry: Entry, operators: list[dict[str, Any]]) -> Entry:
    ids = [op.get("id", op["type"]) for op in operators]
    if len(ids) != len(set(ids)):
        raise UnsupportedError(f"duplicate operator ids {ids} (the Collector rejects the config)")
    for op in operators:
        kind = op["type"]
        if kind not in _OPERATORS:
            raise UnsupportedError(f"operator {kind}")
        if kind != "json_parser" and set(op) - {"type", "id", "if", "on_error"} - _OPTIONS[kind]:
            raise UnsupportedError(f"{kind} options {sorted(op)}")
        if op.get("output") is not None:
            raise UnsupportedError("operator output routing")
        try:
            if _condition(entry, op.get("if")):
                _OPERATORS[kind](entry, op)
        except (ValueError, json.JSONDecodeError) as exc:
            entry.errors.append(f"{op.get('id', kind)}: {exc}")
    return entry


# --- file input --------------------------------------------------------------------------

_RECEIVER_OPTIONS = {
    "include",
    "exclude",
    "start_at",
    "compression",
    "storage",
    "resource",
    "operators",
    "include_file_name",
    "fingerprint_size",
}


@dataclass
class _Known:
    fingerprint: bytes
    offset: int


class FileLogReceiver:
    """One ``file_log`` receiver; ``poll()`` returns the entries emitted since the last poll."""

    def __init__(self, config: dict[str, Any]) -> None:
        unknown = set(config) - _RECEIVER_OPTIONS
        if unknown:
            raise UnsupportedError(f"file_log options {sorted(unknown)}")
        if config.get("start_at") != "beginning":
            raise UnsupportedError("start_at other than beginning")
        if config.get("compression") not in (None, "auto"):
            raise UnsupportedError(f"compression {config.get('compression')}")
        self.config = config
        self.fingerprint_size = FINGERPRINT_SIZE
        self.known: list[_Known] = []

    def _content(self, path: str) -> bytes:
        with open(path, "rb") as f:
            data = f.read()
        if self.config.get("compression") == "auto" and data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return data

    def matched_files(self) -> list[str]:
        paths = {p for pattern in self.config["include"] for p in glob.glob(pattern)}
        for pattern in self.config.get("exclude", []):
            paths -= set(glob.glob(pattern))
        return sorted(p for p in paths if os.path.isfile(p))

    def poll(self) -> list[Entry]:
        entries: list[Entry] = []
        for path in self.matched_files():
            content = self._content(path)
            fingerprint = content[: self.fingerprint_size]
            known = next(
                (k for k in self.known if fingerprint.startswith(k.fingerprint) and k.fingerprint),
                None,
            )
            if known is None:
                known = _Known(fingerprint, 0)
                self.known.append(known)
            known.fingerprint = fingerprint
            end = content.rfind(b"\n") + 1  # only whole lines; the rest waits
            for line in content[known.offset : end].splitlines():
                text = line.decode("utf-8").strip()
                if text:
                    entries.append(self._entry(path, text))
            known.offset = max(known.offset, end)
        return entries

    def _entry(self, path: str, line: str) -> Entry:
        entry = Entry(body=line, resource=dict(self.config.get("resource") or {}))
        if self.config.get("include_file_name", True):
            entry.attributes["log.file.name"] = os.path.basename(path)
        return run_operators(entry, self.config.get("operators") or [])
