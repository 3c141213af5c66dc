"""The step clock: a stopping criterion that never stops, added to each instrumented call.

``generate`` calls its stopping criteria once per step, right after the step's tokens are
appended to ``input_ids`` (next to the hand-over to a streamer: just before it in
transformers 5, just after in 4.x), in greedy, sampling, beam and assisted decoding alike; so the time of the first call is the first token's, and the
calls' times bound every later step. That works the same with a ``TextIteratorStreamer``
and without one, needs no patch beyond ``generate`` itself, and costs one clock read and
one list append per step. With generation debug on it also keeps the step's last ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["new_clock"]

_clock_class: type | None = None


def _make_class() -> type:
    import torch
    from transformers.generation.stopping_criteria import StoppingCriteria

    class StepClock(StoppingCriteria):
        """``times``: perf_counter_ns at each step; ``picks``: last ids per step (debug)."""

        def __init__(self, debug: bool, max_steps: int) -> None:
            self.times: list[int] = []
            self.picks: list[list[int]] = []
            self.debug = debug
            self.max_steps = max_steps
            self._no = torch.zeros((), dtype=torch.bool)  # 0-dim: broadcasts over the batch
            self._now: Callable[[], int] = time.perf_counter_ns

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            self.times.append(self._now())
            if self.debug and len(self.picks) < self.max_steps:
                self.picks.append(input_ids[:, -1].tolist())
            return self._no

    return StepClock


def new_clock(debug: bool, max_steps: int) -> Any:
    """A fresh clock for one call (transformers and torch must be importable)."""
    global _clock_class
    cls = _clock_class
    if cls is None:
        cls = _clock_class = _make_class()
    return cls(debug, max_steps)
