"""Interned allocation stacks: captured cheaply on the hot path, formatted only when read.

A stack is captured by walking ``frame.f_back`` (no ``traceback.extract_stack``: that builds
FrameSummary objects and reads source lines) into a flat key ``(id(code), lineno, id(code),
lineno, ...)``, innermost frame first. The key is looked up in a dict; the first time it is
seen the code objects are kept alive next to it, so their ids cannot be reused by other code
objects while the key exists (which is what makes ids safe as keys). Ids of interned stacks
are small ints; the table is bounded and stacks beyond its bound map to ``OVERFLOW``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import CodeType, FrameType

__all__ = ["NO_STACK", "OVERFLOW", "Frame", "StackTable", "capture_key"]

NO_STACK = -2  # allocated while tracking was off
OVERFLOW = -1  # the table was full


@dataclass(frozen=True)
class Frame:
    """One frame of an allocation stack."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f'File "{self.file}", line {self.line}, in {self.function}'


def capture_key(frame: FrameType | None, depth: int) -> tuple[int, ...]:
    """Flat key of up to ``depth`` frames from ``frame`` outwards: ``(id(code), lineno)*``."""
    out: list[int] = []
    n = 0
    while frame is not None and n < depth:
        out.append(id(frame.f_code))
        out.append(frame.f_lineno)
        frame = frame.f_back
        n += 1
    return tuple(out)


class StackTable:
    """Bounded intern table ``key -> stack id`` with lazy formatting."""

    def __init__(self, max_stacks: int) -> None:
        self.max_stacks = max_stacks
        self.ids: dict[tuple[int, ...], int] = {}
        # stack id -> (code objects kept alive, line numbers), innermost first
        self._stacks: list[tuple[tuple[CodeType, ...], tuple[int, ...]]] = []
        self.overflowed = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._stacks)

    def add(self, key: tuple[int, ...], frame: FrameType | None, depth: int) -> int:
        """Intern ``key``; ``frame`` is the same starting frame the key was captured from.

        Called on a miss of ``ids.get(key)``; walks the frames again to keep their code objects.
        """
        with self._lock:
            sid = self.ids.get(key)
            if sid is not None:
                return sid
            if len(self._stacks) >= self.max_stacks:
                self.overflowed += 1
                return OVERFLOW
            codes: list[CodeType] = []
            lines: list[int] = []
            n = 0
            while frame is not None and n < depth:
                codes.append(frame.f_code)
                lines.append(frame.f_lineno)
                frame = frame.f_back
                n += 1
            sid = len(self._stacks)
            self._stacks.append((tuple(codes), tuple(lines)))
            self.ids[key] = sid
            return sid

    def frames(self, stack_id: int) -> list[Frame]:
        """Frames of a stack, innermost (the allocating line) first."""
        if stack_id < 0 or stack_id >= len(self._stacks):
            return []
        codes, lines = self._stacks[stack_id]
        return [
            Frame(c.co_filename, ln, getattr(c, "co_qualname", c.co_name))
            for c, ln in zip(codes, lines, strict=True)
        ]

    def site(self, stack_id: int) -> Frame | None:
        """The allocating frame (innermost) of a stack, or None if unknown."""
        if stack_id < 0 or stack_id >= len(self._stacks):
            return None
        codes, lines = self._stacks[stack_id]
        c = codes[0]
        return Frame(c.co_filename, lines[0], getattr(c, "co_qualname", c.co_name))

    def format(self, stack_id: int) -> str:
        """Traceback-style text, most recent call last (as Python prints tracebacks)."""
        if stack_id == NO_STACK:
            return "  <no stack: allocated while tracking was off>"
        if stack_id == OVERFLOW:
            return f"  <no stack: the stack table was full ({self.max_stacks} stacks)>"
        frames = self.frames(stack_id)
        return "\n".join(f"  {f}" for f in reversed(frames))
