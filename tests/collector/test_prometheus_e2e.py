"""``OTEL_METRICS_EXPORTER=prometheus`` scraped by a real Prometheus on 127.0.0.1.

A generating process serves its metrics on a free port; a Prometheus server (Debian's
``prometheus``, installed by ``.ci/run``) scrapes it every second. PromQL for TTFT p95 and
for token usage by type must return what the process generated (p95 recomputed from the
raw TTFTs with Prometheus' own interpolation), and every query of the Grafana dashboard
must find data on this pull path too. Marked ``e2e``: it needs the prometheus binary.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_model import CONFIG_DIR

from hyperion_otel import semconv

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = CONFIG_DIR / "grafana" / "dashboards" / "hyperion.json"
N_REQUESTS = 6

GENERATOR = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import hyperion_otel as h

    facts_path, go, stop = (Path(p) for p in sys.argv[1:4])
    h.configure()
    model = h.load_model("builtin:tiny")
    while not go.exists():
        time.sleep(0.05)
    facts = []
    for i in range(int(sys.argv[4])):
        g = model.generate(f"Request {i}:", h.GenerationConfig(max_new_tokens=3 + i, seed=i))
        facts.append({"ttft": g.timings.ttft_s, "input": g.usage.input_tokens,
                      "output": g.usage.output_tokens})
        time.sleep(0.3)  # spread over several scrapes, so rate() sees the change
    try:
        h.load_model("/no/such/model")
    except h.ModelError:
        pass
    facts_path.write_text(json.dumps(facts))
    while not stop.exists():
        time.sleep(0.05)
    h.shutdown()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        qs = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return list(body["data"]["result"])


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[Prometheus, Path, Path]]:
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing: apt-get install prometheus (.ci/run does)"
    app_port, prom_port = _free_port(), _free_port()
    facts, go, stop = tmp_path / "facts.json", tmp_path / "go", tmp_path / "stop"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))},
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(app_port),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "HYPERION_LOG_OUTPUT": "file",
        "HYPERION_MEMORY_TRACKING": "true",
        "HYPERION_OUTPUT_DIR": str(tmp_path / "out"),
        "PYTHONPATH": str(REPO),
    }
    app = subprocess.Popen(
        [sys.executable, "-c", GENERATOR, str(facts), str(go), str(stop), str(N_REQUESTS)],
        env=env,
        cwd=tmp_path,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: hyperion\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n"
    )
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        api = Prometheus(f"http://127.0.0.1:{prom_port}")

        def target_up() -> bool:
            try:
                return any(r["value"][1] == "1" for r in api.query('up{job="hyperion"}'))
            except OSError:
                return False

        _wait(target_up, 120, "Prometheus to scrape the generating process")
        go.touch()
        _wait(facts.exists, 120, "the generating process to finish")
        time.sleep(3.0)  # a few scrapes after the last request
        yield api, facts, stop
    finally:
        stop.touch()
        app.wait(timeout=60)
        prom.terminate()
        prom.wait(timeout=30)


def _histogram_quantile(q: float, bounds: tuple[float, ...], values: list[float]) -> float:
    """Prometheus' histogram_quantile on the buckets ``values`` fall into."""
    cumulative = [sum(v <= b for v in values) for b in bounds] + [len(values)]
    rank = q * len(values)
    i = next(i for i, c in enumerate(cumulative) if c >= rank)
    if i == len(bounds):  # the +Inf bucket: Prometheus answers the last finite bound
        return bounds[-1]
    lower = bounds[i - 1] if i > 0 else 0.0
    below = cumulative[i - 1] if i > 0 else 0
    return lower + (bounds[i] - lower) * (rank - below) / (cumulative[i] - below)


def test_promql_returns_what_was_generated_and_every_dashboard_query_finds_data(
    scraped: tuple[Prometheus, Path, Path],
) -> None:
    api, facts_path, _ = scraped
    facts = json.loads(facts_path.read_text())
    assert len(facts) == N_REQUESTS

    [p95] = api.query(
        "histogram_quantile(0.95, sum by (le) (gen_ai_server_time_to_first_token_seconds_bucket))"
    )
    expected = _histogram_quantile(
        0.95, semconv.BUCKETS_TIME_TO_FIRST_TOKEN, [f["ttft"] for f in facts]
    )
    assert math.isclose(float(p95["value"][1]), expected, rel_tol=1e-9), (p95, expected)

    usage = {
        r["metric"]["gen_ai_token_type"]: float(r["value"][1])
        for r in api.query("sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum)")
    }
    assert usage == {
        "input": sum(f["input"] for f in facts),
        "output": sum(f["output"] for f in facts),
    }

    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if not expr or expr.startswith("{"):  # LogQL (Loki), not PromQL
                continue
            promql = expr.replace("$__rate_interval", "1m").replace('=~"$job"', '=~".+"')
            result = api.query(promql)
            if not result or all(math.isnan(float(r["value"][1])) for r in result):
                empty.append(f"{panel['title']}: {expr}")
    assert empty == [], "dashboard queries that find nothing on the pull path:\n" + "\n".join(empty)
