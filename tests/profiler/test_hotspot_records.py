"""A hotspot record names the hot function in ``code.*``: that location survives every
output (OTLP over a real receiver, and the JSON log file), and the record's event name is
the OTel event name field, not an attribute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import hyperion_otel.sdk as sdk
from hyperion_otel import profiler as prof, semconv
from hyperion_otel.settings import Settings
from profiler.workload import hot_python

from otlp_receiver import OTLPReceiver

CODE_KEYS = (semconv.CODE_FUNCTION_NAME, semconv.CODE_FILE_PATH, semconv.CODE_LINE_NUMBER)


def test_hotspot_location_survives_otlp_and_the_json_file(tmp_path: Path) -> None:
    with OTLPReceiver() as rx:
        sdk.configure(
            Settings(
                otlp_endpoint=rx.http_endpoint,
                otlp_protocol="http/protobuf",
                output_dir=str(tmp_path),
                log_outputs=frozenset({"file", "otlp"}),
            )
        )
        try:
            prof.start_profiling()
            deadline = time.perf_counter() + 0.3
            while time.perf_counter() < deadline:
                hot_python(20_000)
            profile = prof.stop_profiling()
        finally:
            sdk.shutdown()
        records = [r for r in rx.logs if r.event_name == semconv.EVENT_PROFILE_HOTSPOTS]
    best = profile.hotspots(1).hotspots[0]
    assert best.name.endswith("hot_python")
    want = {
        semconv.CODE_FUNCTION_NAME: best.name,
        semconv.CODE_FILE_PATH: best.file,
        semconv.CODE_LINE_NUMBER: best.line,
    }
    (otlp,) = records
    assert {k: otlp.attributes[k] for k in CODE_KEYS} == want
    assert semconv.LOG_EVENT_NAME_FIELD not in otlp.attributes
    file_records = [
        json.loads(line)
        for line in (tmp_path / "hyperion.log").read_text().splitlines()
        if semconv.EVENT_PROFILE_HOTSPOTS in line
    ]
    (rec,) = file_records
    assert {k: rec[k] for k in CODE_KEYS} == want  # the record's location, not emit.py's
    assert {k: rec["attributes"][k] for k in CODE_KEYS} == want
    assert rec[semconv.LOG_EVENT_NAME_FIELD] == semconv.EVENT_PROFILE_HOTSPOTS
    assert semconv.LOG_EVENT_NAME_FIELD not in rec["attributes"]  # a field, as in OTLP
