"""Run a callback right after a module is imported, without importing it ourselves.

Under ``opentelemetry-instrument`` every instrumentor runs at start-up; importing
transformers there would cost every application torch's import (seconds) whether it
generates or not. So an instrumentor patches at once when the module is already loaded,
and otherwise leaves a finder on ``sys.meta_path`` that patches when the application
imports it. The finder removes itself once it has fired, and ``cancel()`` removes it
otherwise; the module's ``__loader__`` / ``__spec__.loader`` are the original loader again
after its import, so nothing of the hook stays behind.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType

__all__ = ["PostImportHook"]


class _Loader(importlib.abc.Loader):
    """Runs the real loader, puts it back on the module, then calls the hook."""

    def __init__(self, inner: importlib.abc.Loader, hook: PostImportHook) -> None:
        self.inner, self.hook = inner, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        self.hook.fire(module)


class PostImportHook(importlib.abc.MetaPathFinder):
    """``callback(module)`` once ``name`` is imported (now, if it already is)."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.callback = callback
        self._lock = threading.Lock()
        self._finding = threading.local()
        self._done = False

    def start(self) -> None:
        module = sys.modules.get(self.name)
        if module is not None:
            self.fire(module)
            return
        sys.meta_path.insert(0, self)

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(ValueError):  # not there: never started, or already fired
            sys.meta_path.remove(self)

    def fire(self, module: ModuleType) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._remove()
        self.callback(module)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name or getattr(self._finding, "on", False) or self._done:
            return None
        self._finding.on = True  # the search below asks every finder again, us included
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.on = False
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, self)
        return spec

    def __repr__(self) -> str:
        return f"PostImportHook({self.name!r})"
