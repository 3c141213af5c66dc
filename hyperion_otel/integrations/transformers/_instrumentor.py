"""``TransformersInstrumentor``: wraps ``GenerationMixin.generate``, and puts it back.

``instrument()`` replaces the one class attribute ``GenerationMixin.generate`` with a
wrapper (every ``PreTrainedModel`` and ``pipeline("text-generation")`` reach generation
through it); ``uninstrument()`` puts the original function object back, so the class is
left exactly as found. If another library wrapped ``generate`` on top of ours meanwhile,
its wrapper is kept and ours turns into a pass-through. Nested calls (a model's own
``generate`` calling ``GenerationMixin.generate``) get one span, the outermost.

transformers is never imported by us: if ``transformers.generation.utils`` is loaded,
``instrument()`` patches at once, else when the application imports it (a post-import
hook), so an application under ``opentelemetry-instrument`` that never generates does not
pay torch's import. Without transformers installed, ``instrument()`` raises
``ModuleNotFoundError``, which the auto-loader takes as "library not installed" and skips
(called in code, ``BaseInstrumentor`` finds the missing dependency first and logs it).
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import threading
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

# mypy cannot see this class through the package (it reports attr-defined); it is there.
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from hyperion_otel.integrations._post_import import PostImportHook

__all__ = ["TransformersInstrumentor"]

_MODULE = "transformers.generation.utils"

# Oldest transformers whose generate() this wrapper is written against (tested on 5.x).
_DEPENDENCIES = ("transformers >= 4.50",)

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "hyperion_transformers_generate", default=False
)


class _Patch:
    """The installed wrapper and what it replaced."""

    def __init__(self, owner: type, original: Callable[..., Any]) -> None:
        self.owner = owner
        self.original = original
        self.active = True
        self.wrapper = self._wrap(original)

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        from hyperion_otel.integrations.transformers._call import instrumented_generate

        patch = self

        @functools.wraps(original)
        def generate(model: Any, *args: Any, **kwargs: Any) -> Any:
            if not patch.active or _inside.get():
                return original(model, *args, **kwargs)
            token = _inside.set(True)
            try:
                return instrumented_generate(original, model, args, kwargs)
            finally:
                _inside.reset(token)

        return generate

    def install(self) -> None:
        self.owner.generate = self.wrapper  # type: ignore[attr-defined]

    def remove(self) -> None:
        self.active = False
        if vars(self.owner).get("generate") is self.wrapper:
            self.owner.generate = self.original  # type: ignore[attr-defined]


class TransformersInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """GenAI telemetry for ``generate`` of every transformers model (see the package doc)."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        self._patch: _Patch | None = None
        self._hook: PostImportHook | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _DEPENDENCIES

    def _instrument(self, **kwargs: Any) -> None:
        if importlib.util.find_spec("transformers") is None:
            raise ModuleNotFoundError("No module named 'transformers'", name="transformers")
        with self._lock:
            if self._hook is not None:
                return
            hook = self._hook = PostImportHook(_MODULE, self._patch_module)
        hook.start()

    def _patch_module(self, module: ModuleType) -> None:
        mixin = getattr(module, "GenerationMixin", None)
        with self._lock:
            if self._hook is None or self._patch is not None or mixin is None:
                return  # uninstrumented meanwhile, or not the generate we know
            original = vars(mixin).get("generate")
            if original is None:
                return
            patch = _Patch(mixin, original)
            patch.install()
            self._patch = patch

    def _uninstrument(self, **kwargs: Any) -> None:
        with self._lock:
            hook, self._hook = self._hook, None
            patch, self._patch = self._patch, None
        if hook is not None:
            hook.cancel()
        if patch is not None:
            patch.remove()
