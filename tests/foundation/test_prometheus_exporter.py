"""OTEL_METRICS_EXPORTER=prometheus: a scrape endpoint that shutdown() takes down again."""

from __future__ import annotations

import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import hyperion_otel as h
import hyperion_otel.sdk as sdk

pytestmark = pytest.mark.usefixtures("reset_otel_globals")


def test_serves_metrics_beside_otlp_files_and_leaves_nothing_listening(tmp_path: Path) -> None:
    threads_before = threading.active_count()
    tel = sdk.configure(
        h.Settings.from_env(
            {
                "OTEL_METRICS_EXPORTER": "prometheus,otlp_file",
                "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
                "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
                "HYPERION_OUTPUT_DIR": str(tmp_path),
                "HYPERION_LOG_OUTPUT": "file",
            }
        )
    )
    assert tel.prometheus is not None
    url = tel.prometheus.url
    model = h.load_model("builtin:tiny")
    gen = model.generate("Hi", h.GenerationConfig(max_new_tokens=3, temperature=0))
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    [line] = [
        x
        for x in body.splitlines()
        if x.startswith("gen_ai_client_token_usage_sum{") and 'gen_ai_token_type="output"' in x
    ]
    assert float(line.rsplit(" ", 1)[1]) == gen.usage.output_tokens
    sdk.shutdown()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
    assert threading.active_count() <= threads_before
    assert "gen_ai.client.token.usage" in (tmp_path / "metrics.jsonl").read_text()


def test_without_the_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.prometheus", None)
    with pytest.raises(h.ConfigError, match=r"pip install 'hyperion-otel\[prometheus\]'"):
        sdk.configure(metrics_exporter=("prometheus",), output_dir=str(tmp_path))
    assert sdk.get_telemetry() is None


def test_only_metrics_take_the_pull_exporter() -> None:
    with pytest.raises(h.ConfigError, match="OTEL_TRACES_EXPORTER"):
        h.Settings.from_env({"OTEL_TRACES_EXPORTER": "prometheus"})
