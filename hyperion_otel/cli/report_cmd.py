"""``hyperion-otel report [DIR] [-o report.html]``: one self-contained HTML page from a run's
local telemetry (default DIR: the output directory of the settings, ``HYPERION_OUTPUT_DIR``)."""

from __future__ import annotations

import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
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
