"""Apply settings to every facility; each application returns its undo.

``configure()`` calls ``apply()``; ``shutdown()`` runs the undos in reverse order.
Facilities are imported here, lazily, so that ``import hyperion_otel`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from hyperion_otel.settings import Settings

__all__ = ["apply"]

Undo = Callable[[], None]


def apply(settings: Settings) -> list[Undo]:
    undos: list[Undo] = []
    return undos
