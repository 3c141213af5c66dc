"""The governor seam: what a model's unit of work (forward, prefill, decode step) runs inside.

The resources facility installs governors here (``set_resource_limits``, and the process
default from ``configure()``); the runtime, or an integration for another runtime, enters
``work(model)`` around each unit of work. A model's own entry is data held here, weakly keyed
by the model object, so any weak-referenceable, hashable object can be governed (the runtime's
``Model``, a torch module) and the entry goes with its model. With nothing installed ``work``
costs two global reads; with an entry, one weak-dict lookup.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext

__all__ = ["Governor", "clear", "default", "governor_of", "set_default", "set_for", "work"]

Governor = AbstractContextManager[object]

_NO_GOVERNOR: Governor = nullcontext()
_lock = threading.Lock()
# model -> its own governor; None there means "no limits", not "use the default".
_own: weakref.WeakKeyDictionary[object, Governor | None] = weakref.WeakKeyDictionary()
_default: Governor | None = None
_UNSET = object()


def governor_of(model: object) -> Governor | None:
    """The governor in force for ``model``: its own, else the process default, else None."""
    if _own:
        own = _own.get(model, _UNSET)
        if own is not _UNSET:
            return own  # type: ignore[return-value]
    return _default


def work(model: object) -> Governor:
    """Context for one unit of work of ``model``: its governor, or a shared no-op."""
    gov = governor_of(model)
    return _NO_GOVERNOR if gov is None else gov


def set_for(model: object, governor: Governor | None) -> None:
    """Give ``model`` its own governor (``None``: no limits, whatever the default).

    Raises ``TypeError`` if ``model`` cannot be weakly referenced or hashed.
    """
    with _lock:
        _own[model] = governor


def clear(model: object) -> None:
    """Drop ``model``'s own governor: the process default applies to it again."""
    with _lock:
        _own.pop(model, None)


def default() -> Governor | None:
    return _default


def set_default(governor: Governor | None) -> Governor | None:
    """Make ``governor`` the process default (for models without their own); returns the previous."""
    global _default
    with _lock:
        previous, _default = _default, governor
    return previous
