"""OTLP -> Prometheus name translation, and the metric names a PromQL query selects.

`prometheus_metric_name` follows prometheus/otlptranslator (used by Prometheus 3's OTLP
receiver) under the default ``UnderscoreEscapingWithSuffixes`` strategy: the name is split
on every character outside ``[a-zA-Z0-9:]`` (so ``_`` too, which collapses repeats) and
joined with ``_``; the unit is mapped (s -> seconds, By -> bytes, ``{...}`` annotations
dropped, ``x/y`` -> ``x_per_y``) and appended unless already a token; monotonic counters get
``_total``; gauges with unit ``1`` get ``_ratio``. Histograms are stored as the series
``<name>_bucket``, ``<name>_sum`` and ``<name>_count``.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["counter", "up_down_counter", "gauge", "histogram"]

_UNIT_MAP = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNIT_MAP = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

HISTOGRAM_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _unit_suffixes(unit: str) -> tuple[str, str]:
    parts = unit.split("/", 1)
    main = parts[0].strip()
    main_suffix = "" if not main or "{" in main or "}" in main else _UNIT_MAP.get(main, main)
    per_suffix = ""
    if len(parts) > 1 and parts[1]:
        per = parts[1].strip()
        if per and "{" not in per and "}" not in per:
            per_suffix = "per_" + _PER_UNIT_MAP.get(per, per)
    return main_suffix, per_suffix


def _clean_unit(unit: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9:]", "_", unit)
    return re.sub(r"__+", "_", cleaned).removeprefix("_")


def prometheus_metric_name(name: str, unit: str, kind: Kind, *, pull: bool = False) -> str:
    """The metric name Prometheus 3 stores for an OTLP metric (UnderscoreEscapingWithSuffixes).

    ``pull``: the name the OTel Python pull exporter (``OTEL_METRICS_EXPORTER=prometheus``)
    serves instead, which adds no ``_ratio`` to gauges of unit ``1``.
    """
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]", name) if t]
    main, per = (_clean_unit(s) for s in _unit_suffixes(unit))
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge" and not pull:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    if result and result[0].isdigit():
        result = "_" + result
    return result


def prometheus_series_names(name: str, unit: str, kind: Kind, *, pull: bool = False) -> set[str]:
    """Every series name a PromQL query may select for this OTLP metric."""
    base = prometheus_metric_name(name, unit, kind, pull=pull)
    if kind == "histogram":
        return {base + s for s in HISTOGRAM_SERIES_SUFFIXES}
    return {base}


def prometheus_label_name(attribute: str) -> str:
    """Label name for an attribute key: invalid characters become ``_``."""
    label = re.sub(r"[^a-zA-Z0-9_]", "_", attribute)
    return "key_" + label if label[:1].isdigit() else label


# --- PromQL scanning ---------------------------------------------------------------------

PROMQL_FUNCTIONS = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "topk",
        "bottomk",
        "quantile",
        "stddev",
        "stdvar",
        "group",
        "count_values",
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "histogram_quantile",
        "histogram_fraction",
        "max_over_time",
        "min_over_time",
        "avg_over_time",
        "sum_over_time",
        "last_over_time",
        "clamp_min",
        "clamp_max",
        "abs",
        "label_replace",
        "vector",
        "scalar",
    }
)
PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
    }
)
RESERVED_LABELS = frozenset({"job", "instance", "le", "__name__"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def promql_labels(expr: str) -> set[str]:
    """Label names used in matchers and in by/without/on/ignoring/group_x clauses."""
    no_strings = _STRING.sub('""', expr)
    labels: set[str] = set()
    for clause in _GROUPING.finditer(no_strings):
        labels.update(x.strip() for x in clause.group(2).split(",") if x.strip())
    for block in _MATCHERS.finditer(no_strings):
        for matcher in block.group(1).split(","):
            name = re.split(r"=~|!~|!=|=", matcher, maxsplit=1)[0].strip()
            if name:
                labels.add(name)
    return labels


def promql_metrics(expr: str) -> set[str]:
    """Metric names selected by a query; an identifier that is neither a function, a
    keyword, a label nor a selector is reported as ``?<name>`` so the caller fails on it."""
    text = _STRING.sub('""', expr)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    names: set[str] = set()
    for m in _IDENT.finditer(text):
        ident = m.group(0)
        if ident in PROMQL_FUNCTIONS or ident in PROMQL_KEYWORDS:
            continue
        before = text[: m.start()]
        if before.count("{") > before.count("}"):
            continue  # a label name inside a matcher block
        rest = text[m.end() :].lstrip()
        if rest.startswith("{"):
            names.add(ident)
        elif rest.startswith("("):
            names.add("?" + ident)  # unknown function
        else:
            names.add("?" + ident)  # bare selector: dashboard queries always use name{...}
    return names
