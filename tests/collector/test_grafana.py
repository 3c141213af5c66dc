"""Grafana provisioning and the Hyperion dashboard: valid, cross-linked, and every metric
they query is one hyperion_otel emits, under the name Prometheus 3 stores it."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from collector_model import CONFIG_DIR, load
from emitted_metrics import scan
from prom_names import (
    RESERVED_LABELS,
    prometheus_label_name,
    prometheus_metric_name,
    prometheus_series_names,
    promql_labels,
    promql_metrics,
)

from hyperion_otel import semconv

DASHBOARD = CONFIG_DIR / "grafana" / "dashboards" / "hyperion.json"
DATASOURCES = CONFIG_DIR / "grafana" / "provisioning" / "datasources" / "datasources.yaml"

# The subset of Grafana's dashboard model that provisioning and rendering depend on.
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"]},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {
                        "enum": [
                            "row",
                            "timeseries",
                            "logs",
                            "stat",
                            "gauge",
                            "table",
                            "bargauge",
                            "traces",
                        ]
                    },
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {
                            "h": {"type": "integer", "minimum": 1},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "y": {"type": "integer", "minimum": 0},
                        },
                    },
                    "datasource": {"type": "object", "required": ["type", "uid"]},
                    "targets": {
                        "type": "array",
                        "items": {"type": "object", "required": ["refId"]},
                    },
                },
            },
        },
    },
}


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return doc


def datasources() -> dict[str, dict[str, Any]]:
    return {
        ds["uid"]: ds
        for ds in load("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    }


def prom_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every Prometheus target."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if target["datasource"]["type"] == "prometheus"
    ]


def test_dashboard_is_valid_and_its_panels_tile_the_grid() -> None:
    doc = dashboard()
    jsonschema.validate(doc, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in doc["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_datasource_the_dashboard_names_is_provisioned_with_that_type() -> None:
    provisioned = datasources()
    doc = dashboard()
    refs = [p["datasource"] for p in doc["panels"] if "datasource" in p]
    refs += [t["datasource"] for p in doc["panels"] for t in p.get("targets", [])]
    refs += [v["datasource"] for v in doc["templating"]["list"]]
    assert refs
    for ref in refs:
        assert ref["uid"] in provisioned, ref
        assert provisioned[ref["uid"]]["type"] == ref["type"], ref


def test_datasources_link_logs_traces_and_metrics_to_each_other() -> None:
    ds = datasources()
    assert len(ds) == 3 and {d["type"] for d in ds.values()} == {"prometheus", "jaeger", "loki"}
    loki = ds["loki"]["jsonData"]["derivedFields"]
    assert any(f["matcherRegex"] == "trace_id" and f["datasourceUid"] == "jaeger" for f in loki)
    jaeger = ds["jaeger"]["jsonData"]
    assert jaeger["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert "trace_id=" in jaeger["tracesToLogsV2"]["query"]
    assert (
        ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "jaeger"
    )
    for uid in {d["datasourceUid"] for d in loki} | {jaeger["tracesToMetrics"]["datasourceUid"]}:
        assert uid in ds


def test_provisioning_escapes_grafana_variables_from_env_expansion() -> None:
    """Grafana expands $NAME/${NAME} from its environment in provisioning files: a Grafana
    variable such as ${__value.raw} only survives when written $${__value.raw}."""
    text = DATASOURCES.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "$$" in body
    assert re.findall(r"(?<!\$)\$(?!\$)", body.replace("$$", "")) == []


def test_dashboard_provider_reads_the_directory_compose_mounts() -> None:
    provider = load("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    mounts = load("docker-compose.yaml")["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        (
            "gen_ai.server.time_to_first_token",
            "s",
            "histogram",
            "gen_ai_server_time_to_first_token_seconds",
        ),
        ("http.server.duration", "s", "histogram", "http_server_duration_seconds"),
        ("system.network.dropped", "{packets}", "counter", "system_network_dropped_total"),
        ("system.memory.utilization", "1", "gauge", "system_memory_utilization_ratio"),
        ("system.memory.utilization", "1", "up_down_counter", "system_memory_utilization"),
        ("requests.count", "1", "counter", "requests_count_total"),
        ("astro.light.speed", "m/s", "gauge", "astro_light_speed_meters_per_second"),
        ("storage.filesystem.utilization", "%", "gauge", "storage_filesystem_utilization_percent"),
        ("process.memory.usage", "By", "up_down_counter", "process_memory_usage_bytes"),
        ("hyperion.kv_cache.usage", "{block}", "up_down_counter", "hyperion_kv_cache_usage"),
        ("foo..bar__baz", "s", "gauge", "foo_bar_baz_seconds"),
        ("queue.seconds", "s", "gauge", "queue_seconds"),
        ("jobs.total", "", "counter", "jobs_total"),
    ],
)
def test_prometheus_name_translation(name: str, unit: str, kind: Any, expected: str) -> None:
    assert prometheus_metric_name(name, unit, kind) == expected


def test_histogram_series_are_bucket_sum_count() -> None:
    assert prometheus_series_names("gen_ai.server.time_to_first_token", "s", "histogram") == {
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_server_time_to_first_token_seconds_sum",
        "gen_ai_server_time_to_first_token_seconds_count",
    }


def test_promql_scanner_finds_metrics_and_labels() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, job) (rate(a_seconds_bucket{job=~"$job",'
        ' x_y="1"}[$__rate_interval]))) / on (job) b_total{z!="a,b"} + bare_metric'
    )
    assert promql_metrics(expr) == {"a_seconds_bucket", "b_total", "?bare_metric"}
    assert promql_labels(expr) == {"le", "job", "x_y", "z"}


def test_every_metric_the_dashboard_queries_is_emitted_by_hyperion_otel() -> None:
    instruments = scan()
    series: dict[str, list[str]] = {}
    for inst in instruments:
        assert inst.name in vars(semconv).values(), inst
        # Under the name of either path: OTLP into Prometheus 3, or the pull exporter.
        for pull in (False, True):
            for s in prometheus_series_names(inst.name, inst.unit, inst.kind, pull=pull):
                series.setdefault(s, []).append(
                    f"{inst.name} ({inst.kind}, {inst.unit!r}) at {inst.where}"
                )
    missing = [
        f"{title}: {metric}"
        for title, expr in prom_queries()
        for metric in promql_metrics(expr)
        if metric not in series
    ]
    assert missing == [], "queried but not emitted:\n" + "\n".join(missing)


def test_every_label_the_dashboard_uses_is_a_semconv_attribute() -> None:
    attribute_labels = {
        prometheus_label_name(v)
        for k, v in vars(semconv).items()
        if isinstance(v, str) and k.isupper() and not k.startswith(("METRIC_", "SPAN_", "ENV_"))
    }
    for title, expr in prom_queries():
        for label in promql_labels(expr):
            assert label in RESERVED_LABELS | attribute_labels, f"{title}: label {label}"


def test_variables_list_services_known_to_each_backend() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    # Prometheus writes target_info for every OTLP resource; job is service.name (with
    # service.namespace/ in front when set).
    assert variables["job"]["definition"] == "label_values(target_info, job)"
    # Loki indexes service.name as service_name.
    assert variables["service"]["query"]["label"] == "service_name"
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    assert all("$job" in e for e in exprs if "{" in e and "service_name" not in e)
    assert any('service_name=~"$service"' in e for e in exprs)


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    queries = " ".join(expr for _, expr in prom_queries())
    wanted = {
        "tokens/s": "gen_ai_client_token_usage_sum",
        "time to first token": "gen_ai_server_time_to_first_token_seconds_bucket",
        "time per output token": "gen_ai_server_time_per_output_token_seconds_bucket",
        "request duration": "gen_ai_server_request_duration_seconds_bucket",
        "KV cache usage": "hyperion_kv_cache_usage",
        "pool usage": "hyperion_memory_pool_usage_bytes",
        "fragmentation": "hyperion_memory_fragmentation_ratio",
        "errors by type": "hyperion_errors_total",
        "process CPU": "process_cpu_utilization_ratio",
        "process memory": "process_memory_usage_bytes",
    }
    assert [what for what, metric in wanted.items() if metric not in queries] == []
    logs = [p for p in dashboard()["panels"] if p["type"] == "logs"]
    assert logs and logs[0]["datasource"]["uid"] == "loki"
    assert logs[0]["options"]["enableLogDetails"] is True  # the trace link lives in details
