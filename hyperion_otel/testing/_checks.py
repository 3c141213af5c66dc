"""The argument checks of the test helpers: a bad value is an ``InvalidInputError`` that
names the argument, what it expected and what it got."""

from __future__ import annotations

import os
from collections.abc import Collection

from hyperion_otel.errors import InvalidInputError

__all__ = ["bad", "check_choice", "check_count", "check_name", "check_path"]


def bad(field: str, expected: str, value: object) -> InvalidInputError:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return InvalidInputError(
        f"invalid {field}: expected {expected}, got {text}", field=field, expected=expected
    )


def check_name(value: object, field: str) -> None:
    if not isinstance(value, str) or not value:
        raise bad(field, "a non-empty str", value)


def check_count(value: object, field: str, *, optional: bool = False) -> None:
    """An ``int >= 0`` (not a bool); ``None`` too when ``optional``."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad(field, "an int >= 0" + (" or None" if optional else ""), value)


def check_choice(value: object, field: str, choices: Collection[str], *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or value not in choices:
        expected = "one of " + ", ".join(repr(c) for c in choices)
        raise bad(field, expected + (" or None" if optional else ""), value)


def check_path(value: object, field: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)) or value == "":
        raise bad(field, "a directory path (str or os.PathLike)" + (" or None" * optional), value)
