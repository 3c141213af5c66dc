"""The command line answers --help and usage errors without loading the heavy parts, and
every option says what it does and its default."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "opentelemetry.sdk", "hyperion_otel.runtime", "grpc", "rich")

PROBE = """
import sys
from hyperion_otel.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["generate", "--help"], ["doctor", "--help"], ["profile", "--bogus"], []],
    ids=["help", "generate-help", "doctor-help", "usage-error", "no-command"],
)
def test_help_and_usage_errors_load_nothing_heavy(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    parser = _subparsers()[command]
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"{command} {name}: no help text"
        has_value = action.default not in (None, False, [], argparse.SUPPRESS)
        if has_value:
            assert f"(default: {action.default})" in " ".join(text.split()), (
                f"{command} {name}: default {action.default!r} not shown"
            )
