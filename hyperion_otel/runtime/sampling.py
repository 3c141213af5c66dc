"""Next-token sampling: greedy, temperature, top-k then top-p (nucleus), seeded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Candidate", "SamplingParams", "sample"]

# Candidate pool sizes tried for top-p before falling back to a full sort: the nucleus
# almost always sits in the first few hundred tokens, and argpartition + sorting a small
# pool is far cheaper than argsort over a 50k vocabulary every step.
_TOP_P_POOLS = (64, 512, 4096)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float
    top_k: int
    top_p: float


@dataclass(frozen=True)
class Candidate:
    token_id: int
    probability: float


def _distribution(
    logits: npt.NDArray[np.float32], p: SamplingParams
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Kept token ids and their renormalised probabilities (most likely first when cut)."""
    z = logits.astype(np.float64) / p.temperature  # [V]
    m, v = z.max(), z.shape[0]
    if 0 < p.top_k < v:
        ids = _sort_desc(np.argpartition(-z, p.top_k - 1)[: p.top_k], z)
        w = np.exp(z[ids] - m)
        probs = w / w.sum()
    elif p.top_p < 1.0:
        ids = _nucleus_pool(z, p.top_p)
        probs = np.exp(z[ids] - m) / np.exp(z - m).sum()
    else:
        w = np.exp(z - m)
        return np.arange(v, dtype=np.int64), w / w.sum()
    if p.top_p < 1.0:
        # Smallest most-likely-first prefix whose mass reaches top_p (within float32 rounding).
        n = int(np.searchsorted(np.cumsum(probs), p.top_p * (1 - 1e-6))) + 1
        ids, probs = ids[:n], probs[:n]
    return ids, probs / probs.sum()


def _sort_desc(pool: npt.NDArray[np.intp], z: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    # Descending by logit, ties broken by lower id (lexsort: last key is primary).
    return pool[np.lexsort((pool, -z[pool]))].astype(np.int64)


def _nucleus_pool(z: npt.NDArray[np.float64], top_p: float) -> npt.NDArray[np.int64]:
    v = z.shape[0]
    total = np.exp(z - z.max()).sum()
    for size in _TOP_P_POOLS:
        if size >= v:
            break
        pool = _sort_desc(np.argpartition(-z, size - 1)[:size], z)
        mass = np.exp(z[pool] - z.max()).sum() / total
        if mass >= top_p:
            return pool
    return _sort_desc(np.arange(v), z)


def sample(
    logits: npt.NDArray[np.float32],
    params: SamplingParams,
    rng: np.random.Generator,
    n_candidates: int = 0,
) -> tuple[int, list[Candidate]]:
    """Pick the next token from ``logits [V]``; also return the top ``n_candidates``.

    Temperature 0 is greedy (argmax, lowest id on ties). Otherwise logits are divided by
    the temperature, cut to the ``top_k`` most likely (0 = no cut), then to the smallest
    set whose probability reaches ``top_p``, renormalised, and sampled with ``rng``.
    """
    if params.temperature == 0.0 or params.top_k == 1:
        token = int(np.argmax(logits))
        cands: list[Candidate] = []
        if n_candidates:
            z = logits.astype(np.float64)
            top = _sort_desc(
                np.argpartition(-z, min(n_candidates, z.shape[0]) - 1)[:n_candidates], z
            )
            pr = np.exp(z[top] - z.max()) / np.exp(z - z.max()).sum()
            cands = [Candidate(int(i), float(q)) for i, q in zip(top, pr, strict=True)]
        return token, cands
    ids, probs = _distribution(logits, params)
    cdf = np.cumsum(probs)
    idx = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(ids) - 1)
    cands = []
    if n_candidates:
        top = np.argsort(-probs, kind="stable")[:n_candidates]
        cands = [Candidate(int(ids[j]), float(probs[j])) for j in top]
    return int(ids[idx]), cands
