"""``hyperion-otel doctor``: the guide's debugging checklist, run live.

Rows, in order: settings (every bad variable is its own ``fail`` row; the effective
configuration is shown with secrets masked), the log file and its rotation, memory
tracking and the profiler started and stopped for real, one real export per signal and
exporter, the model's verification, and the resource limits. Exit code 0 when no row
failed, 1 otherwise; ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperion_otel.cli.checks import Check, Status, check_log_file, load_settings, pipeline_summary
from hyperion_otel.cli.export_checks import check_exports
from hyperion_otel.cli.facility_checks import (
    check_memory,
    check_model,
    check_profiler,
    check_resources,
)
from hyperion_otel.settings import Settings

__all__ = ["DoctorReport", "run", "run_doctor"]

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}
_WIDE = 160  # console width when stdout is not a terminal: keep rows on few lines


@dataclass
class DoctorReport:
    checks: list[Check]
    settings: Settings
    changed: dict[str, Any] = field(default_factory=dict)  # masked, non-default settings

    @property
    def ok(self) -> bool:
        return not any(c.status is Status.FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
            "settings": self.settings.masked(),
            "pipeline": pipeline_summary(self.settings),
        }


def run_doctor(
    model: str | None = "builtin:tiny",
    timeout_s: float = 2.0,
    environ: Mapping[str, str] | None = None,
) -> DoctorReport:
    """Run every check; ``model`` None skips the model check."""
    settings, rows = load_settings(environ)
    rows += check_log_file(settings)
    rows.append(check_memory(settings))
    rows.append(check_profiler(settings))
    rows += check_exports(settings, timeout_s)
    if model is not None:
        rows.append(check_model(model))
    rows.append(check_resources(settings))
    # Exporter errors may quote the endpoint or headers: no secret leaves in a row.
    rows = [
        Check(c.name, c.status, settings.redact(c.detail), settings.redact(c.fix)) for c in rows
    ]
    return DoctorReport(rows, settings, _changed(settings))


def _changed(settings: Settings) -> dict[str, Any]:
    default = Settings().masked()
    return {k: v for k, v in settings.masked().items() if default.get(k) != v}


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        print("hyperion-otel doctor: error: --timeout must be > 0", file=sys.stderr)
        return 2
    report = run_doctor(None if args.no_model else args.model, args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        _print_table(report)
    return 0 if report.ok else 1


def _print_table(report: DoctorReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(
        file=sys.stdout,
        width=None if sys.stdout.isatty() else _WIDE,
        highlight=False,
        soft_wrap=False,
    )
    config = Table(
        title="Effective configuration (non-default settings; secrets masked)",
        title_justify="left",
        show_header=False,
        box=None,
        pad_edge=False,
    )
    config.add_column(style="cyan")
    config.add_column()
    for key, value in report.changed.items():
        config.add_row(key, Text(_shown(value)))
    config.add_row("pipeline", Text(pipeline_summary(report.settings)))
    config.add_row("log file", Text(os.path.abspath(report.settings.effective_log_file())))
    console.print(config)
    console.print()

    table = Table(title="hyperion-otel doctor", title_justify="left", show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", ratio=3)
    table.add_column("fix", ratio=2)
    for c in report.checks:
        table.add_row(
            Text(c.name),
            Text(c.status.value.upper(), style=_STYLE[c.status]),
            Text(c.detail),
            Text(c.fix),
        )
    console.print(table)
    counts = report.counts()
    verdict = "[green]OK[/]" if report.ok else "[bold red]PROBLEMS FOUND[/]"
    console.print(f"{verdict}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
