"""Names of rotated log files, and choosing which to delete to keep ``max_files``.

A rotated file is ``<file>.<YYYYmmddTHHMMSS>.<microseconds>Z`` (UTC, the moment of
rotation), later ``...Z.gz`` once compressed. Timestamps rather than ``.1 .2 ...``:
rotation then never renames an older backup, so a compression running in the background
(in this or another process) never sees its input renamed under it, and names sort
oldest first. A backup is a *stem*: its plain and ``.gz`` files count as one.
"""

from __future__ import annotations

import itertools
import os
import re
import time

__all__ = ["TRASH_MARK", "backup_stems", "new_backup_name", "trash_name"]

TRASH_MARK = ".deleted."
_STAMP_RE = r"\d{8}T\d{6}\.\d{6}Z"
_trash_seq = itertools.count()


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(os.path.basename(path)) + r"\.(" + _STAMP_RE + r")(\.gz)?")


def new_backup_name(path: str, now: float | None = None) -> str:
    """Free backup name for ``path`` at ``now`` (bumped by 1 µs while taken)."""
    micros = int((time.time() if now is None else now) * 1_000_000)
    while True:
        sec, us = divmod(micros, 1_000_000)
        name = f"{path}.{time.strftime('%Y%m%dT%H%M%S', time.gmtime(sec))}.{us:06d}Z"
        if not os.path.lexists(name) and not os.path.lexists(name + ".gz"):
            return name
        micros += 1


def backup_stems(path: str) -> list[tuple[str, list[str]]]:
    """Backups of ``path`` oldest first, each ``(stem path, existing files of it)``."""
    directory = os.path.dirname(path) or "."
    pattern = _pattern(path)
    stems: dict[str, list[str]] = {}
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is not None:
            stems.setdefault(m.group(1), []).append(os.path.join(directory, entry))
    return [(f"{path}.{stamp}", sorted(stems[stamp])) for stamp in sorted(stems)]


def trash_name(file: str) -> str:
    """Name a doomed file is renamed to, so it can be unlinked later outside any lock."""
    return f"{file}{TRASH_MARK}{os.getpid()}.{next(_trash_seq)}"
