"""Build-time derivations from raw op tokens and samples.

Per thread, ops sorted by start form a tree (the seam nests them per thread): depth and
self time come from it. Each op's span ids come from the OTel context it ran in. Its
phase is, in order: an explicit ``phase`` attribute; what its name says (sampling,
tokenize, prefill, decode); its parent's phase; the phase its span's name says
(``hyperion.prefill``/``hyperion.decode``, SDK spans only); else the sequence: a
tokenize op, a new trace or a multi-row matmul starts a prefill, and a top-level
sampling op is followed by decode steps (a thread's first ops count as prefill).
Samples not tagged by ``profile_span()`` take the span of the top-level op they fell in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from hyperion_otel.profiler.ops import (
    ABYTES,
    ALLOCS,
    ATTRS,
    KV_CACHE_PREFIX,
    NAME,
    SPAN,
    T0,
    T1,
    TID,
    CounterPoint,
    RawOp,
    Token,
)
from hyperion_otel.profiler.sampler import RawSample

__all__ = ["derive_ops", "kv_counters", "phase_of_name", "tag_samples"]

_KV_SERIES_ATTRS = ("blocks", "blocks_used", "blocks_free", "blocks_total")
Tag = tuple[int, int]


def phase_of_name(name: str) -> str | None:
    """Phase an op implies by its name alone (sampling, tokenisation, prefill, decode)."""
    if name == "sampling" or name.startswith("sample"):
        return "sampling"
    if name.startswith(("tokeniz", "detokeniz", "tokenis", "detokenis")):
        return "tokenization"
    if name == "prefill":
        return "prefill"
    if name.startswith("decode"):
        return "decode"
    return None


def _multi_token(name: str, attrs: Mapping[str, Any]) -> bool:
    """A matmul over more than one row (``shape=(rows, k, n)``) is prefill work."""
    if name != "matmul":
        return False
    shape = attrs.get("shape")
    return isinstance(shape, tuple) and bool(shape) and isinstance(shape[0], int) and shape[0] > 1


def derive_ops(tokens: Iterable[Token], t0_ns: int) -> list[RawOp]:
    """Raw op tuples (sorted by thread, then start) from finished tokens."""
    per_thread: dict[int, list[Token]] = {}
    for tok in tokens:
        per_thread.setdefault(tok[TID], []).append(tok)
    out: list[RawOp] = []
    for tid, toks in per_thread.items():
        toks.sort(key=lambda k: (k[T0], -k[T1]))
        # open ops: [token, depth, child_ns, phase, tag]
        stack: list[list[Any]] = []
        rows: list[list[Any]] = []
        seq_phase, last_trace = "prefill", 0
        for tok in toks:
            while stack and stack[-1][0][T1] <= tok[T0]:
                stack.pop()
            name, attrs = tok[NAME], tok[ATTRS]
            trace_id, span_id, span_phase = tok[SPAN]
            tag = (trace_id, span_id)
            explicit = attrs.get("phase")
            phase = explicit if isinstance(explicit, str) else phase_of_name(name)
            dur = tok[T1] - tok[T0]
            if stack:
                parent = stack[-1]
                parent[2] += dur
                phase = phase or parent[3]
            else:
                if tag[0] and tag[0] != last_trace:
                    last_trace, seq_phase = tag[0], "prefill"  # a new request: its prefill
                if phase == "tokenization" or (phase is None and _multi_token(name, attrs)):
                    seq_phase = "prefill"
                phase = phase or span_phase or seq_phase
                if phase == "sampling":
                    seq_phase = "decode"  # after a token is sampled, decode steps follow
            row = [tok, len(stack), 0, phase, tag]
            stack.append(row)
            rows.append(row)
        for tok, depth, child, phase, tag in rows:
            out.append(
                (
                    tok[NAME],
                    tid,
                    tok[T0] - t0_ns,
                    tok[T1] - t0_ns,
                    max(0, tok[T1] - tok[T0] - child),
                    depth,
                    tok[ATTRS],
                    tok[ALLOCS],
                    tok[ABYTES],
                    tag[0],
                    tag[1],
                    phase,
                )
            )
    return out


def kv_counters(ops: Iterable[RawOp]) -> list[CounterPoint]:
    """KV-cache counters from KV-cache ops: cumulative counts per op name, and block
    figures the ops carried (``blocks``, ``blocks_used``, ``blocks_free``, ``blocks_total``)."""
    kv = sorted((o for o in ops if o[0].startswith(KV_CACHE_PREFIX)), key=lambda o: o[3])
    counts: dict[str, float] = {}
    points: list[CounterPoint] = []
    for name, _tid, _t0, t1, _self, _depth, attrs, *_rest in kv:
        counts[name] = counts.get(name, 0.0) + 1.0
        points.append((t1, "kv_cache.ops", dict(counts)))
        blocks = {
            k: float(v)
            for k in _KV_SERIES_ATTRS
            if isinstance(v := attrs.get(k), (int, float)) and not isinstance(v, bool)
        }
        if blocks:
            points.append((t1, "kv_cache.blocks", blocks))
    return points


def tag_samples(samples: list[RawSample], ops: list[RawOp]) -> list[RawSample]:
    """Samples without a span tag take the one of the top-level op they fell in.

    ``ops`` as ``derive_ops`` returns them: per thread, sorted by start.
    """
    tops: dict[int, tuple[list[int], list[RawOp]]] = {}
    for op in ops:
        if op[5] == 0 and op[10]:  # top-level, with a span
            starts, found = tops.setdefault(op[1], ([], []))
            starts.append(op[2])
            found.append(op)
    if not tops:
        return samples
    out: list[RawSample] = []
    for sample in samples:
        entry = tops.get(sample[1]) if not sample[5] else None
        if entry is not None:
            i = bisect_right(entry[0], sample[0]) - 1
            if i >= 0 and entry[1][i][3] >= sample[0]:
                op = entry[1][i]
                out.append((*sample[:4], op[9], op[10]))
                continue
        out.append(sample)
    return out
