"""Progress bars for the command line (rich, on stderr, only when stderr is a terminal).

``load_model_with_progress`` shows a spinner with the elapsed time (loading has no
measurable steps); ``generate_with_progress`` a bar over ``max_new_tokens`` that advances
per token, by running the generation as a stream (same result and telemetry as
``Model.generate``). Off a terminal both are the plain calls, so pipes and logs stay clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperion_otel.runtime import Generation, GenerationConfig, Model

__all__ = ["generate_with_progress", "load_model_with_progress", "progress_enabled", "spinner"]

_REFRESH_PER_S = 8  # low: the bar must not cost the generation it measures


def progress_enabled(stream: IO[str] | None = None) -> bool:
    s = sys.stderr if stream is None else stream
    try:
        return bool(s.isatty())
    except (AttributeError, ValueError):
        return False


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


@contextmanager
def spinner(description: str, enabled: bool | None = None) -> Iterator[None]:
    """A transient spinner with elapsed time while the block runs."""
    if not (progress_enabled() if enabled is None else enabled):
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=_console(),
        transient=True,
        refresh_per_second=_REFRESH_PER_S,
    ) as bar:
        bar.add_task(description, total=None)
        yield


def load_model_with_progress(
    path: str | os.PathLike[str], enabled: bool | None = None, **options: Any
) -> Model:
    from hyperion_otel.runtime import load_model

    with spinner(f"Loading {os.fspath(path)}", enabled):
        return load_model(path, **options)


def generate_with_progress(
    model: Model, prompt: str | list[int], config: GenerationConfig, enabled: bool | None = None
) -> Generation:
    """``model.generate(prompt, config)`` with a per-token bar when enabled."""
    if not (progress_enabled() if enabled is None else enabled):
        return model.generate(prompt, config)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stream = model.stream(prompt, config)
    with Progress(
        TextColumn("Generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tokens"),
        TimeElapsedColumn(),
        console=_console(),
        transient=True,
        refresh_per_second=_REFRESH_PER_S,
    ) as bar:
        task = bar.add_task("generate", total=config.max_new_tokens)
        for _ in stream:
            bar.advance(task)
    gen = stream.generation
    if gen is None:  # pragma: no cover - a finished stream always has its generation
        return model.generate(prompt, config)
    return gen
