"""Pure numpy transformer kernels, float32, with shapes in comments.

Each kernel comes in a vectorised form (batched BLAS across heads) and a reference form
(per-head Python loops accumulating in float64) that ``enable_simd(..., on=False)``
switches to as a numerical oracle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "attention",
    "attention_paged",
    "attention_reference",
    "gelu_tanh",
    "gelu_tanh_reference",
    "layer_norm",
    "linear",
    "linear_reference",
    "rms_norm",
    "rope",
    "rope_tables",
    "silu_mul",
    "silu_mul_reference",
    "softmax_inplace",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_GELU_C = math.sqrt(2.0 / math.pi)


def layer_norm(x: F32, w: F32, b: F32 | None, eps: float) -> F32:
    # x [T, d] -> [T, d]
    mu = np.add.reduce(x, axis=-1, keepdims=True)  # ndarray.mean costs a Python-level wrapper
    mu *= 1.0 / x.shape[-1]
    xc: F32 = x - mu
    var = np.einsum("td,td->t", xc, xc)[:, None] / x.shape[-1]
    xc *= 1.0 / np.sqrt(var + eps)
    xc *= w
    if b is not None:
        xc += b
    return xc


def rms_norm(x: F32, w: F32, eps: float) -> F32:
    # x [T, d] -> [T, d]; HF computes in float32: x * rsqrt(mean(x^2) + eps) * w
    ms = np.einsum("td,td->t", x, x)[:, None] / x.shape[-1]
    out: F32 = x * (1.0 / np.sqrt(ms + eps)).astype(np.float32)
    out *= w
    return out


def linear(x: F32, w: F32, b: F32 | None, out: F32 | None = None) -> F32:
    # x [T, in] @ w[out, in].T (+ b [out]) -> [T, out]
    y = np.matmul(x, w.T, out=out)
    if b is not None:
        y += b
    return y


def linear_reference(x: F32, w: F32, b: F32 | None, out: F32 | None = None) -> F32:
    # Same contract as ``linear``, accumulated in float64.
    y: F64 = x.astype(np.float64) @ w.T.astype(np.float64)
    if b is not None:
        y += b
    if out is None:
        return y.astype(np.float32)
    out[...] = y
    return out


def gelu_tanh(x: F32) -> F32:
    # HF "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in place on x.
    t = x * x
    t *= 0.044715
    t += 1.0
    t *= x
    t *= _GELU_C
    np.tanh(t, out=t)
    t += 1.0
    x *= 0.5
    x *= t
    return x


def gelu_tanh_reference(x: F32) -> F32:
    x64 = x.astype(np.float64)
    x[...] = 0.5 * x64 * (1.0 + np.tanh(_GELU_C * (x64 + 0.044715 * x64**3)))
    return x


def silu_mul(gate_up: F32, ff: int) -> F32:
    # gate_up [T, 2 ff] = gate | up -> silu(gate) * up [T, ff]
    g, u = gate_up[:, :ff], gate_up[:, ff:]
    s = np.negative(g)
    np.exp(s, out=s)
    s += 1.0
    np.divide(g, s, out=s)
    s *= u
    return s


def silu_mul_reference(gate_up: F32, ff: int) -> F32:
    g, u = gate_up[:, :ff].astype(np.float64), gate_up[:, ff:].astype(np.float64)
    return (g / (1.0 + np.exp(-g)) * u).astype(np.float32)


def rope_tables(
    positions: npt.NDArray[np.int64],
    head_dim: int,
    theta: float,
    scaling: Sequence[tuple[str, float]] = (),
) -> tuple[F32, F32]:
    # positions [T] -> cos, sin [T, head_dim / 2] (HF halves convention: emb = cat(freqs, freqs))
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    pos = positions.astype(np.float64)
    opts = dict(scaling)
    if "linear" in opts:
        pos = pos / opts["factor"]
    elif "llama3" in opts:
        inv_freq = _llama3_scale(inv_freq, opts)
    # HF computes the angles in float32; matching it keeps long positions bit-close.
    freqs = np.outer(pos.astype(np.float32), inv_freq.astype(np.float32))
    return np.cos(freqs).astype(np.float32), np.sin(freqs).astype(np.float32)


def _llama3_scale(inv_freq: F64, opts: dict[str, float]) -> F64:
    factor, lo, hi = opts["factor"], opts["low_freq_factor"], opts["high_freq_factor"]
    old = opts["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    smooth = (old / wavelen - lo) / (hi - lo)
    scaled = np.where(wavelen > old / lo, inv_freq / factor, inv_freq)
    mid = (wavelen <= old / lo) & (wavelen >= old / hi)
    return np.where(mid, (1 - smooth) * inv_freq / factor + smooth * inv_freq, scaled)


def rope(x: F32, cos: F32, sin: F32) -> F32:
    # x [H, T, hd], cos/sin [T, hd/2]; q' = q cos + rotate_half(q) sin, rotate_half([a, b]) = [-b, a]
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    out = np.empty_like(x)
    np.multiply(a, cos, out=out[..., :h])
    out[..., :h] -= b * sin
    np.multiply(b, cos, out=out[..., h:])
    out[..., h:] += a * sin
    return out


def softmax_inplace(s: F32) -> F32:
    # softmax over the last axis, in place
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def _causal_mask(q_pos0: int, t: int, s: int) -> npt.NDArray[np.bool_]:
    # [T, S]: True where key position > query position (masked out)
    return np.arange(s)[None, :] > (q_pos0 + np.arange(t))[:, None]


def attention(q: F32, k: F32, v: F32, q_pos0: int) -> F32:
    # q [H, T, hd], k/v [Hkv, S, hd] -> [T, H*hd]; query t sits at position q_pos0 + t.
    h, t, hd = q.shape
    hkv, s, _ = k.shape
    g = h // hkv
    qg = q.reshape(hkv, g * t, hd)  # query heads grouped under their KV head
    scores = np.matmul(qg, k.transpose(0, 2, 1))  # [Hkv, g*T, S]
    scores *= 1.0 / math.sqrt(hd)
    if t > 1:
        scores[:, np.tile(_causal_mask(q_pos0, t, s), (g, 1))] = -np.inf
    softmax_inplace(scores)
    out = np.matmul(scores, v)  # [Hkv, g*T, hd]
    return np.ascontiguousarray(out.reshape(h, t, hd).transpose(1, 0, 2)).reshape(t, h * hd)


def attention_paged(
    q: F32, k_blocks: Sequence[F32], v_blocks: Sequence[F32], length: int, q_pos0: int
) -> F32:
    # q [H, T, hd]; k/v blocks [Hkv, B, hd] each, the first ``length`` positions valid -> [T, H*hd]
    h, t, hd = q.shape
    hkv, bs, _ = k_blocks[0].shape
    g = h // hkv
    qg = q.reshape(hkv, g * t, hd)
    nb = -(-length // bs)  # blocks holding valid positions (a prefetched one may follow)
    scores = np.empty((hkv, g * t, nb * bs), dtype=np.float32)
    for i, kb in enumerate(k_blocks[:nb]):
        n = min(bs, length - i * bs)  # the last block is partly unwritten: skip its tail
        np.matmul(qg, kb[:, :n].transpose(0, 2, 1), out=scores[:, :, i * bs : i * bs + n])
    sc = scores[:, :, :length]
    sc *= 1.0 / math.sqrt(hd)
    if t > 1:
        sc[:, np.tile(_causal_mask(q_pos0, t, length), (g, 1))] = -np.inf
    softmax_inplace(sc)
    out = np.matmul(sc[:, :, : min(bs, length)], v_blocks[0][:, : min(bs, length)])
    if nb > 1:
        tmp = np.empty_like(out)
        for i in range(1, nb):
            n = min(bs, length - i * bs)
            out += np.matmul(sc[:, :, i * bs : i * bs + n], v_blocks[i][:, :n], out=tmp)
    return np.ascontiguousarray(out.reshape(h, t, hd).transpose(1, 0, 2)).reshape(t, h * hd)


def attention_reference(q: F32, k: F32, v: F32, q_pos0: int) -> F32:
    # Same contract as ``attention``: one head at a time, float64 accumulation.
    h, t, hd = q.shape
    g = h // k.shape[0]
    s = k.shape[1]
    out = np.empty((t, h * hd), dtype=np.float32)
    mask = _causal_mask(q_pos0, t, s)
    for head in range(h):
        kh, vh = k[head // g].astype(np.float64), v[head // g].astype(np.float64)
        sc = q[head].astype(np.float64) @ kh.T / math.sqrt(hd)  # [T, S]
        sc[mask] = -np.inf
        sc -= sc.max(axis=-1, keepdims=True)
        p = np.exp(sc)
        p /= p.sum(axis=-1, keepdims=True)
        out[:, head * hd : (head + 1) * hd] = p @ vh
    return out
