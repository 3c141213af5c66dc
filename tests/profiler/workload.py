"""Stand-in workloads for profiler tests and the benchmark.

``StandInModel``: a GPT-2-shaped batch-1 decoder in numpy that marks its ops on the op
seam the way the runtime does (names, ``label``, ``layer``, ``shape``, ``flops``,
``nbytes``) and has ``generate(prompt, config)``; it lets the profiler be tested without
depending on the runtime. ``hot_python`` is a known hot pure-Python function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperion_otel._seams import ops as _ops

F32 = np.float32


def hot_python(n: int) -> int:
    """Deliberately slow pure Python: the function a hotspot test expects on top."""
    total = 0
    for i in range(n):
        total += (i * i) % 7
    return total


def cold_python(n: int) -> int:
    return sum(range(n // 50))


@dataclass
class Result:
    token_ids: list[int]
    tokens_per_s: float


class StandInModel:
    """Decoder with GPT-2 matmul shapes (``d_model``, 3d, 4d) and a KV cache in numpy."""

    def __init__(self, d_model: int = 768, n_layer: int = 2, vocab: int = 4096, seed: int = 0):
        rng = np.random.default_rng(seed)
        d = d_model
        self.name = f"stand-in-d{d}-L{n_layer}"
        self.d, self.n_head = d, max(1, d // 64)
        scale = F32(0.02)
        self.layers = [
            {
                "qkv": rng.standard_normal((d, 3 * d), dtype=F32) * scale,
                "attn_out": rng.standard_normal((d, d), dtype=F32) * scale,
                "mlp_up": rng.standard_normal((d, 4 * d), dtype=F32) * scale,
                "mlp_down": rng.standard_normal((4 * d, d), dtype=F32) * scale,
            }
            for _ in range(n_layer)
        ]
        self.embed = rng.standard_normal((vocab, d), dtype=F32) * scale
        self.head = np.ascontiguousarray(self.embed.T)  # [d, vocab]

    def _matmul(self, layer: int, label: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        rows, (k, n) = x.shape[0], w.shape
        with _ops.op(
            "matmul",
            layer=layer,
            label=label,
            shape=(rows, k, n),
            flops=2 * rows * k * n,
            nbytes=(k * n + rows * k + rows * n) * 4,
        ):
            return x @ w

    def _norm(self, layer: int, x: np.ndarray) -> np.ndarray:
        with _ops.op("norm", layer=layer, shape=x.shape, flops=8 * x.size, nbytes=2 * x.nbytes):
            m = x.mean(-1, keepdims=True)
            v = ((x - m) ** 2).mean(-1, keepdims=True)
            return (x - m) / np.sqrt(v + 1e-5)

    def _attend(
        self, i: int, q: np.ndarray, k: np.ndarray, v: np.ndarray, cache: list[list[np.ndarray]]
    ) -> np.ndarray:
        with _ops.op(
            "kv_cache",
            layer=i,
            shape=k.shape,
            flops=0,
            nbytes=4 * k.nbytes,
            blocks_used=len(cache[i][0]) + 1,
        ):
            cache[i][0].append(k)
            cache[i][1].append(v)
        ks, vs = np.concatenate(cache[i][0]), np.concatenate(cache[i][1])  # [T, d]
        t, h, hd = q.shape[0], self.n_head, self.d // self.n_head
        length = ks.shape[0]
        with _ops.op(
            "attention",
            layer=i,
            shape=(h, t, length, hd),
            flops=4 * h * t * length * hd,
            nbytes=(2 * length * self.d + 2 * t * self.d) * 4,
        ):
            qh = q.reshape(t, h, hd).transpose(1, 0, 2)
            kh = ks.reshape(length, h, hd).transpose(1, 2, 0)
            s = qh @ kh / np.sqrt(hd)  # [h, t, length]
            if t > 1:
                s = s + np.triu(np.full((t, length), -1e9, dtype=F32), k=length - t + 1)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out = s @ vs.reshape(length, h, hd).transpose(1, 0, 2)  # [h, t, hd]
            return out.transpose(1, 0, 2).reshape(t, self.d)

    def run(self, ids: list[int], cache: list[list[np.ndarray]]) -> np.ndarray:
        x = self.embed[ids]  # [T, d]
        for i, w in enumerate(self.layers):
            h = self._norm(i, x)
            qkv = self._matmul(i, "qkv", h, w["qkv"])
            q, k, v = np.split(qkv, 3, axis=-1)
            x = x + self._matmul(i, "attn_out", self._attend(i, q, k, v, cache), w["attn_out"])
            h = self._norm(i, x)
            up = self._matmul(i, "mlp_up", h, w["mlp_up"])
            with _ops.op("mlp", layer=i, shape=up.shape, flops=8 * up.size, nbytes=2 * up.nbytes):
                up = np.maximum(up, 0)
            x = x + self._matmul(i, "mlp_down", up, w["mlp_down"])
        h = self._norm(-1, x[-1:])
        return self._matmul(-1, "lm_head", h, self.head)[0]

    def generate(self, prompt: Any, config: Any = None) -> Result:
        import time

        n_new = getattr(config, "max_new_tokens", 16)
        t0 = time.perf_counter()
        with _ops.op("tokenize", chars=len(str(prompt))):
            ids = [ord(c) % self.embed.shape[0] for c in str(prompt)] or [0]
        cache: list[list[np.ndarray]] = [[[], []] for _ in self.layers]
        logits = self.run(ids, cache)
        out: list[int] = []
        for step in range(n_new):
            with _ops.op("sampling", vocab=logits.shape[0]):
                token = int(np.argmax(logits))
            out.append(token)
            if step + 1 < n_new:
                logits = self.run([token], cache)
        return Result(out, n_new / (time.perf_counter() - t0))
