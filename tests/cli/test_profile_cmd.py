"""``hyperion-otel profile`` and the progress helpers of the command line."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hyperion_otel.cli import build_parser, main
from hyperion_otel.cli.progress import (
    generate_with_progress,
    load_model_with_progress,
    progress_enabled,
)
from hyperion_otel.profiler import is_profiling
from hyperion_otel.runtime import GenerationConfig, load_model


def test_subcommands_are_registered() -> None:
    help_text = build_parser().format_help()
    for name in ("generate", "verify", "info", "doctor", "profile", "report"):
        assert name in help_text


def test_profile_saves_and_prints_hotspots_and_bottlenecks(
    clean_env: Path,
    tiny_model: Path,
    tmp_path: Path,
    reset_otel_globals: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "p" / "profile.json"
    rc = main(
        [
            "profile",
            "--model",
            str(tiny_model),
            "--prompt",
            "hello",
            "--max-new-tokens",
            "100",
            "-o",
            str(target),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    trace = json.loads(target.read_text(encoding="utf-8"))
    assert any(e.get("cat") == "op" for e in trace["traceEvents"])
    assert f"Profile saved to {target}" in out
    assert "Hotspots (" in out and "Recommendation:" in out and "Time by phase:" in out
    assert "100 tokens" in err  # the run summary
    assert not is_profiling()


def test_a_run_too_short_to_sample_says_how_to_get_more_samples(
    clean_env: Path,
    tiny_model: Path,
    tmp_path: Path,
    reset_otel_globals: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(
        [
            "profile",
            "--model",
            str(tiny_model),
            "--prompt",
            "hi",
            "--max-new-tokens",
            "2",
            "--interval-ms",
            "1000",
            "-o",
            str(tmp_path / "short.json"),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert "raise --max-new-tokens or lower --interval-ms" in err
    assert "Recommendation:" in out  # the op-based analysis needs no samples


def test_profile_defaults_to_the_output_dir_and_speaks_json(
    clean_env: Path,
    tiny_model: Path,
    reset_otel_globals: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(
        ["profile", "--model", str(tiny_model), "--prompt", "hi", "--max-new-tokens", "4", "--json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert (
        data["profile"] == str(clean_env / "profile.json")
        and (clean_env / "profile.json").is_file()
    )
    assert data["generation"]["output_tokens"] == 4
    assert data["hotspots"]["sample_count"] >= 0 and data["bottlenecks"]["recommendation"]
    # configure() ran around the command: the run's telemetry landed beside the profile.
    assert (clean_env / "traces.jsonl").is_file()


def test_speedscope_output_by_name(
    clean_env: Path,
    tiny_model: Path,
    tmp_path: Path,
    reset_otel_globals: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "run.speedscope.json"
    assert (
        main(
            [
                *("profile", "--model", str(tiny_model), "--prompt", "x"),
                *("--max-new-tokens", "3", "-o", str(target)),
            ]
        )
        == 0
    )
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["$schema"].endswith("file-format-schema.json")
    capsys.readouterr()


def test_progress_is_off_without_a_terminal_and_changes_nothing(tiny_model: Path) -> None:
    assert not progress_enabled(io.StringIO())
    model = load_model_with_progress(str(tiny_model), enabled=True)
    config = GenerationConfig(max_new_tokens=6, temperature=0.0)
    shown = generate_with_progress(model, "abc", config, enabled=True)  # the bar, drawn
    plain = load_model(str(tiny_model)).generate("abc", config)
    assert shown.token_ids == plain.token_ids and shown.finish_reason == plain.finish_reason
