"""The Collector configs and the compose stack are wired the way the pinned images need."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from collector_model import (
    COLLECTOR_IMAGE,
    COLLECTOR_VERSION,
    CONFIG_DIR,
    component_type,
    compose_default,
    compose_volume,
    env_references,
    expand_env,
    exporter_endpoints,
    load,
    problems,
    stray_dollars,
)

from hyperion_otel.logging._rotlock import lock_path

COLLECTOR_CONFIGS = ["agent.yaml", "gateway-tier1.yaml", "gateway-tier2.yaml", "replay.yaml"]


def compose() -> dict[str, Any]:
    return load("docker-compose.yaml")


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_collector_config_wiring_is_valid(name: str) -> None:
    assert problems(load(name)) == []


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_every_env_reference_has_a_default_and_no_stray_dollar(name: str) -> None:
    cfg = load(name)
    assert [ref for ref in env_references(cfg) if ref[1] is None] == []
    assert stray_dollars(cfg) == []


def test_every_yaml_and_json_file_in_the_folder_parses() -> None:
    import json

    files = sorted(CONFIG_DIR.rglob("*.y*ml")) + sorted(CONFIG_DIR.rglob("*.json"))
    assert len(files) >= 9
    for path in files:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        assert isinstance(doc, dict), path


def test_problems_catches_broken_wiring() -> None:
    """The checker itself: undefined, unused, unsupported and deprecated components."""
    cfg = {
        "receivers": {"otlp": {}, "filelog": {}},
        "processors": {"batch": {}, "tail_sampling": {}},
        "exporters": {"otlp": {}, "debug": {}},
        "extensions": {"file_storage": {}},
        "service": {
            "pipelines": {
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["tail_sampling", "batch"],
                    "exporters": ["debug", "nope"],
                },
            }
        },
    }
    found = "\n".join(problems(cfg))
    for expected in (
        "receivers.filelog: deprecated alias, use file_log",
        "exporters.otlp: deprecated alias, use otlp_grpc",
        "exporter 'nope' is not defined",
        "tail_sampling does not support metrics",
        "memory_limiter must come first",
        "extensions.file_storage is defined but not enabled",
    ):
        assert expected in found


def test_agent_sends_each_signal_to_its_backend() -> None:
    cfg = load("agent.yaml")
    pipes = cfg["service"]["pipelines"]
    endpoints = exporter_endpoints(cfg, {})
    sinks = {sig: [endpoints.get(e, e) for e in pipes[sig]["exporters"]] for sig in pipes}
    assert "jaeger:4317" in sinks["traces"]
    assert "http://prometheus:9090/api/v1/otlp" in sinks["metrics"]
    assert "http://loki:3100/otlp" in sinks["logs"]
    assert set(pipes["logs"]["receivers"]) == {"otlp", "file_log/hyperion"}
    # The same file routes traces through the gateway when told to.
    routed = exporter_endpoints(cfg, {"TRACES_OTLP_ENDPOINT": "gateway-tier1:4317"})
    assert routed["otlp_grpc/traces"] == "gateway-tier1:4317"


def test_agent_reads_the_live_log_and_its_rotations() -> None:
    receiver = load("agent.yaml")["receivers"]["file_log/hyperion"]
    assert receiver["start_at"] == "beginning"
    assert receiver["compression"] == "auto"
    assert receiver["storage"] == "file_storage"
    patterns = [expand_env(p, {}).rsplit("/", 1)[1] for p in receiver["include"]]
    backup = "hyperion.log.20261125T180000.123456Z"
    for name in ["hyperion.log", backup, backup + ".gz"]:
        assert any(PurePosixPath(name).match(p) for p in patterns), name
    # Never the logger's temporaries, its rotation lock, nor other files of the directory.
    lock = PurePosixPath(lock_path("/var/log/hyperion/hyperion.log")).name
    for name in [
        backup + ".gz.tmp.4242",
        backup + ".deleted.4242.0",
        lock,
        "traces.jsonl",
        "hyperion.logx",
    ]:
        assert not any(PurePosixPath(name).match(p) for p in patterns), name
    # Nor does the lock match the glob people write for a log and its rotations.
    assert not PurePosixPath(lock).match("hyperion.log*")


def test_agent_log_names_match_what_the_logger_writes(tmp_path: Path) -> None:
    from hyperion_otel.logging._backups import new_backup_name

    receiver = load("agent.yaml")["receivers"]["file_log/hyperion"]
    env = {"HYPERION_LOG_DIR": str(tmp_path), "HYPERION_LOG_NAME": "app.log"}
    patterns = [expand_env(p, env) for p in receiver["include"]]
    backup = new_backup_name(str(tmp_path / "app.log"))
    for name in [str(tmp_path / "app.log"), backup, backup + ".gz"]:
        assert any(PurePosixPath(name).match(p) for p in patterns), name


def test_tier1_routes_traces_by_trace_id_to_every_tier2_replica() -> None:
    cfg = load("gateway-tier1.yaml")
    lb = cfg["exporters"]["load_balancing"]
    assert lb["routing_key"] == "traceID"
    assert "endpoint" not in lb["protocol"]["otlp"], "the resolver fills in the endpoint"
    assert isinstance(lb["resolver"]["dns"]["port"], str)
    assert cfg["service"]["pipelines"]["traces"]["exporters"] == ["load_balancing"]
    assert exporter_endpoints(cfg, {})["load_balancing"] == "gateway-tier2:4317"
    services = compose()["services"]
    assert services["gateway-tier2"]["deploy"]["replicas"] >= 2


def test_tier2_keeps_errors_slow_traces_and_a_share_of_the_rest() -> None:
    cfg = load("gateway-tier2.yaml")
    ts = cfg["processors"]["tail_sampling"]
    by_type = {p["type"]: p for p in ts["policies"]}
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert by_type["latency"]["latency"]["threshold_ms"] == 2000
    assert 0 < by_type["probabilistic"]["probabilistic"]["sampling_percentage"] < 100
    wait_s = int(re.fullmatch(r"(\d+)s", ts["decision_wait"]).group(1))  # type: ignore[union-attr]
    assert wait_s > 5, "must outlast the SDK's 5 s batch delay"
    cache = ts["decision_cache"]
    assert min(cache.values()) > ts["num_traces"]
    assert cfg["service"]["pipelines"]["traces"]["processors"] == [
        "memory_limiter",
        "tail_sampling",
        "batch",
    ]


def test_replay_reads_each_signal_file_and_its_rotated_copy() -> None:
    cfg = load("replay.yaml")
    for signal in ("traces", "metrics", "logs"):
        rid = f"otlp_json_file/{signal}"
        receiver = cfg["receivers"][rid]
        assert receiver["start_at"] == "beginning"  # fileconsumer's default is `end`
        (pattern,) = receiver["include"]
        name = pattern.rsplit("/", 1)[1]
        assert PurePosixPath(f"{signal}.jsonl").match(name)
        assert PurePosixPath(f"{signal}.jsonl.1").match(name)
        assert cfg["service"]["pipelines"][signal]["receivers"] == [rid]


def test_replay_file_names_match_what_the_sdk_writes() -> None:
    from hyperion_otel.sdk._otlp_json import FILE_NAMES

    cfg = load("replay.yaml")
    for signal, file_name in FILE_NAMES.items():
        (pattern,) = cfg["receivers"][f"otlp_json_file/{signal}"]["include"]
        assert PurePosixPath(file_name).match(pattern.rsplit("/", 1)[1])


# --- docker compose ------------------------------------------------------------------------


def _image_tag(image: str) -> tuple[str, str]:
    name, _, tag = image.partition(":")
    return name, tag


def test_compose_images_are_pinned() -> None:
    for name, svc in compose()["services"].items():
        repo, tag = _image_tag(svc["image"])
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {svc['image']} is not pinned"
        if repo == COLLECTOR_IMAGE:
            assert tag == COLLECTOR_VERSION


def test_compose_mounts_exist_and_every_collector_runs_a_config_of_ours() -> None:
    services = compose()["services"]
    run_configs = set()
    for name, svc in services.items():
        mounts = {}
        for vol in svc.get("volumes", []):
            src, dst = compose_volume(vol)
            if src.startswith("./"):
                assert (CONFIG_DIR / src).exists(), f"{name}: {src} does not exist"
            mounts[dst] = src
        if _image_tag(svc["image"])[0] == COLLECTOR_IMAGE:
            (arg,) = svc["command"]
            target = arg.removeprefix("--config=")
            assert target in mounts, f"{name}: {target} is not mounted"
            run_configs.add(Path(mounts[target]).name)
    assert run_configs == set(COLLECTOR_CONFIGS)


def test_compose_backends_are_the_hosts_the_collectors_export_to() -> None:
    services = compose()["services"]
    for svc_name, svc in services.items():
        if _image_tag(svc["image"])[0] != COLLECTOR_IMAGE:
            continue
        cfg_name = Path(svc["command"][0].removeprefix("--config=")).name
        env = {k: compose_default(str(v)) for k, v in (svc.get("environment") or {}).items()}
        for exporter, endpoint in exporter_endpoints(load(cfg_name), env).items():
            host = urlparse(endpoint).hostname if "://" in endpoint else endpoint.split(":")[0]
            assert host in services, f"{svc_name}/{exporter}: {endpoint} is no compose service"


def test_compose_enables_the_backend_features_the_configs_rely_on() -> None:
    services = compose()["services"]
    assert "--web.enable-otlp-receiver" in services["prometheus"]["command"]
    agent_ports = {p.rsplit(":", 1)[1] for p in services["otel-collector"]["ports"]}
    assert {"4317", "4318"} <= agent_ports
    loki = load("loki/loki.yaml")
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"
    prom = load("prometheus/prometheus.yml")
    assert prom["otlp"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"


def test_readme_states_the_pinned_versions_and_component_names() -> None:
    readme = (CONFIG_DIR / "README.md").read_text(encoding="utf-8")
    assert COLLECTOR_VERSION in readme
    for svc in compose()["services"].values():
        assert _image_tag(svc["image"])[1] in readme, svc["image"]
    used_types: set[str] = set()
    for name in COLLECTOR_CONFIGS:
        cfg = load(name)
        for kind in ("receivers", "processors", "exporters", "extensions"):
            used_types.update(component_type(c) for c in cfg.get(kind) or {})
    for ctype in used_types:
        assert f"`{ctype}`" in readme, ctype
