"""``hyperion-otel report [DIR] [-o report.html]``: one self-contained HTML page from a run's
local telemetry (default DIR: the output directory of the settings, ``HYPERION_OUTPUT_DIR``)."""

from __future__ import annotations

import argparse

__all__ = ["register_report"]


def register_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report (timeline, latencies, memory, hotspots, errors) of a run",
        description=(
            "Build one self-contained HTML file (inline SVG, no network) from the local "
            "OTLP-JSON files, JSON log and profile of a run."
        ),
    )
    p.add_argument(
        "directory",
        nargs="?",
        default=None,
        help="the run's output directory (default: HYPERION_OUTPUT_DIR, hyperion-output)",
    )
    p.add_argument(
        "-o", "--output", default=None, help="HTML file to write (default DIR/report.html)"
    )
    p.add_argument(
        "--log-file",
        default=None,
        help="JSON log file (default: HYPERION_LOG_FILE when DIR is not given, else DIR/hyperion.log)",
    )
    p.add_argument("--profile", default=None, help="profile JSON (default: the newest one in DIR)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from hyperion_otel.report import write_report
    from hyperion_otel.settings import Settings

    directory, log_file = args.directory, args.log_file
    if directory is None:
        settings = Settings.from_env()
        directory = settings.output_dir
        log_file = log_file or settings.effective_log_file()
    path = write_report(directory, args.output, log_file=log_file, profile=args.profile)
    print(f"Report written to {path}")
    return 0
