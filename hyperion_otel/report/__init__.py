"""A run's local telemetry as one self-contained HTML report (``hyperion-otel report``).

Reads what a run left in its output directory: the OTLP-JSON files (``traces.jsonl``,
``metrics.jsonl``, ``logs.jsonl``, and their rotated ``.1`` copies), the JSON log file and the
newest saved profile (Chrome trace, speedscope or summary JSON). Writes one HTML file with
inline CSS and inline SVG plots: no script, no network, no CDN.

    from hyperion_otel.report import write_report
    write_report("hyperion-output", "report.html")

Importing this package has no side effects.
"""

from __future__ import annotations

import os

from hyperion_otel._seams.files import write_text_atomic
from hyperion_otel.errors import HyperionIOError, InvalidInputError
from hyperion_otel.report._html import SECTIONS, ReportInput, render
from hyperion_otel.report._profile import ProfileData, find_profile, load_profile
from hyperion_otel.report._records import read_log_file, read_otlp_dir

__all__ = ["SECTIONS", "build_report", "write_report"]


def build_report(
    directory: str | os.PathLike[str],
    *,
    log_file: str | os.PathLike[str] | None = None,
    profile: str | os.PathLike[str] | None = None,
    max_lines: int = 100_000,
    max_slices: int = 5000,
    max_requests: int = 60,
) -> str:
    """The report of the run in ``directory`` as an HTML string.

    ``log_file`` defaults to ``<directory>/hyperion.log``; ``profile`` to the newest profile
    JSON in ``directory``. Bounds: ``max_lines`` lines read per file (the newest),
    ``max_slices`` rectangles in the flame chart, ``max_requests`` rows in the timeline.
    """
    root = os.fspath(directory)
    if not os.path.isdir(root):
        raise InvalidInputError(
            f"report directory {root!r} does not exist or is not a directory; "
            "expected a run's output directory (HYPERION_OUTPUT_DIR)",
            directory=root,
        )
    for name, value in (
        ("max_lines", max_lines),
        ("max_slices", max_slices),
        ("max_requests", max_requests),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}", field=name)
    records = read_otlp_dir(root, max_lines)
    notes: list[str] = []
    log_path = os.fspath(log_file) if log_file is not None else os.path.join(root, "hyperion.log")
    logs, log_notes = read_log_file(log_path, max_lines)
    records.logs.extend(logs)
    notes.extend(log_notes)
    prof: ProfileData | None = None
    prof_path = os.fspath(profile) if profile is not None else find_profile(root)
    if prof_path is not None:
        try:
            prof = load_profile(prof_path, max_slices)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"profile {prof_path} could not be read: {exc}")
    if not (records.files or logs or prof):
        notes.append(f"no telemetry files found in {root}")
    data = ReportInput(root, records, prof, log_path if logs else None, notes, max_requests)
    return render(data)


def write_report(
    directory: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    **options: object,
) -> str:
    """Write the report of ``directory`` to ``output`` (default ``<directory>/report.html``);
    returns the path written."""
    html = build_report(directory, **options)  # type: ignore[arg-type]
    target = (
        os.fspath(output)
        if output is not None
        else os.path.join(os.fspath(directory), "report.html")
    )
    try:
        write_text_atomic(target, html)
    except OSError as exc:
        raise HyperionIOError(
            f"cannot write the report to {target!r}: {exc.strerror or exc}", path=target
        ) from exc
    return target
