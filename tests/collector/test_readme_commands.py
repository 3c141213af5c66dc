"""The "Send it to Jaeger and Grafana" commands in collector-config/README.md work together:
the variables they export are valid settings that point the SDK at the agent the compose
file publishes, and the log file they leave on reaches the directory the agent tails."""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from urllib.parse import urlparse

from collector_model import CONFIG_DIR, compose_volume, expand_env, load

from hyperion_otel.settings import Settings

README = CONFIG_DIR / "README.md"


def send_it_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Send it to Jaeger and Grafana")
    return text[start : text.index("\n## ", start + 1)]


def exported() -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", send_it_section(), re.MULTILINE))


def test_exported_variables_are_valid_settings_for_the_agent() -> None:
    env = exported()
    assert {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"} <= set(env)
    settings = Settings.from_env(env)  # raises ConfigError on a bad name or value
    for signal in ("traces", "metrics", "logs"):
        assert settings.exporters_for(signal) == ("otlp",)
        assert settings.protocol_for(signal) == "grpc"
    port = str(urlparse(settings.otlp_endpoint or "").port)
    published = load("docker-compose.yaml")["services"]["otel-collector"]["ports"]
    assert f"127.0.0.1:{port}:4317" in published
    # Logs go through the file the agent tails, not twice.
    assert "file" in settings.log_outputs and "otlp" not in settings.log_outputs


def test_the_default_log_file_is_in_the_directory_the_agent_tails() -> None:
    settings = Settings.from_env(exported())
    log_file = PurePosixPath(settings.effective_log_file())
    agent = load("docker-compose.yaml")["services"]["otel-collector"]
    # compose runs from collector-config/, the app from the repository root.
    mounts = {dst: src for src, dst in map(compose_volume, agent["volumes"])}
    host_dir = os.path.normpath(os.path.join("collector-config", mounts["/var/log/hyperion"]))
    assert host_dir == str(log_file.parent)
    receiver = load("agent.yaml")["receivers"]["file_log/hyperion"]
    patterns = expand_env(receiver["include"], {"HYPERION_LOG_DIR": "/var/log/hyperion"})
    assert any(PurePosixPath("/var/log/hyperion", log_file.name).match(p) for p in patterns)
    assert f"mkdir -p {log_file.parent}" in send_it_section()


def test_the_commands_use_the_compose_file_and_services_that_exist() -> None:
    section = send_it_section()
    assert "docker compose -f collector-config/docker-compose.yaml up -d" in section
    services = load("docker-compose.yaml")["services"]
    for port in ("16686", "3000", "9090", "13133"):
        assert f"localhost:{port}" in section
        assert any(
            p.endswith(f":{port}:{port}") for s in services.values() for p in s.get("ports", [])
        )
