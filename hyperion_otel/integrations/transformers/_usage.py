"""Usage and finish reasons counted from the ids ``generate`` took and returned.

Input tokens: the prompt tokens of every batch row, padding excluded (the attention mask
when one was passed; else, as ``generate`` infers its mask, every id that is the pad token
when the pad token is set and is not an end-of-sequence token). Rows are counted as passed:
``num_return_sequences`` copies are not counted again.

Output tokens, per returned sequence: the new ids up to and including the first
end-of-sequence token (finish reason "stop"); without one, the new ids less the pad ids
``generate`` appended after the row finished (when the pad token is distinct), with finish
reason "length" when the row reached ``max_new_tokens`` and "stop" when another criterion
(stop strings, a custom criterion) ended it first. One case cannot be told from the ids: a
row ended by a stop string in a batch whose pad token is an end-of-sequence token counts
the first pad as its own end-of-sequence token (one token more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperion_otel.integrations.transformers._request import Request

__all__ = ["Usage", "count_input", "count_output", "sequences_of"]

STOP = "stop"
LENGTH = "length"


@dataclass(frozen=True)
class Usage:
    lengths: tuple[int, ...]  # new tokens per returned sequence
    finish_reasons: tuple[str, ...]
    new_positions: int  # columns of new ids (steps taken, the longest row)
    new_ids: list[list[int]]  # per sequence, the counted new ids

    @property
    def output_tokens(self) -> int:
        return sum(self.lengths)


def count_input(req: Request) -> int | None:
    ids = req.input_ids
    if ids is None:
        return None
    if req.attention_mask is not None:
        return int(req.attention_mask.sum())
    pad = req.pad_id
    if pad is not None and pad not in req.eos_ids:
        return int((ids != pad).sum())
    return int(ids.numel())


def sequences_of(output: Any) -> Any:
    """The ``[n_sequences, length]`` id tensor of what ``generate`` returned, or None."""
    seqs = getattr(output, "sequences", output)
    return seqs if hasattr(seqs, "ndim") and seqs.ndim == 2 else None


def _new_ids(req: Request, seqs: Any) -> Any:
    if req.is_encoder_decoder:
        return seqs[:, 1:]  # after the decoder start token
    if req.input_ids is None:
        return seqs  # from inputs_embeds: only new ids are returned
    return seqs[:, req.input_ids.shape[-1] :]


def count_output(req: Request, seqs: Any) -> Usage:
    rows: list[list[int]] = _new_ids(req, seqs).tolist()
    width = len(rows[0]) if rows else 0
    eos = req.eos_ids
    pad = req.pad_id if req.pad_id is not None and req.pad_id not in eos else None
    lengths, reasons, kept = [], [], []
    for row in rows:
        n = next((i + 1 for i, t in enumerate(row) if t in eos), None) if eos else None
        if n is not None:
            reason = STOP
        else:
            n = len(row)
            while pad is not None and n > 0 and row[n - 1] == pad:
                n -= 1
            full = req.max_new_tokens is not None and n >= req.max_new_tokens
            reason = LENGTH if full or (req.max_new_tokens is None and n == width) else STOP
        lengths.append(n)
        reasons.append(reason)
        kept.append(row[:n])
    return Usage(tuple(lengths), tuple(reasons), width, kept)
