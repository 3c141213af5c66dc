"""What the resources functions accept as a model: any object the governor seam can key.

That is the runtime's ``Model`` and models of other runtimes alike (a torch module, for an
integration that enters ``hyperion_otel._seams.governor.work(model)`` around its forward
calls): the object must be weak-referenceable and hashable, so that its limits and CPU mark
live beside it, not on it, and go away with it.
"""

from __future__ import annotations

import weakref

from hyperion_otel.errors import InvalidInputError

__all__ = ["check_model", "model_name"]


def check_model(model: object, func: str) -> object:
    """``model`` itself, or ``InvalidInputError`` (at the caller's caller) naming what it got."""
    try:
        weakref.ref(model)
        hash(model)
    except TypeError:
        raise InvalidInputError(
            f"{func} expects a Model (from load_model) or another model object that can be "
            f"weakly referenced, got {type(model).__name__}",
            stacklevel=3,
            field="model",
            value=repr(model)[:80],
        ) from None
    return model


def model_name(model: object) -> str:
    """The label of ``model`` in errors and metrics: its ``name``, else its ``name_or_path``
    (transformers models), else its type's name."""
    for attr in ("name", "name_or_path"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
