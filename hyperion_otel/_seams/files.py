"""One permission policy for every file and directory hyperion-otel writes.

Files are created 0o640 and directories 0o750: telemetry, logs, profiles and reports may
hold paths, attribute values and (opted in) prompt text, so they are not world-readable.
Modes are given at creation, so the umask can only make them tighter.
"""

from __future__ import annotations

import os
import secrets

__all__ = ["DIR_MODE", "FILE_MODE", "make_parent_dirs", "write_text_atomic"]

FILE_MODE = 0o640
DIR_MODE = 0o750


def make_parent_dirs(path: str) -> None:
    """Create the directories above ``path`` (mode ``DIR_MODE``) if they are missing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=DIR_MODE, exist_ok=True)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same directory and a rename.

    Readers never see a half-written file; the temp file is removed if anything fails.
    Raises ``OSError`` as the file system does.
    """
    make_parent_dirs(path)
    tmp = os.path.join(
        os.path.dirname(os.path.abspath(path)),
        f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp",
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
