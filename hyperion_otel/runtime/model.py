"""``Model``: the transformer forward pass (GPT-2 and Llama) over preconverted weights."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hyperion_otel._seams import blas, governor as _governor
from hyperion_otel._seams.allocator import get_allocator
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.runtime import layers as kernels
from hyperion_otel.runtime._instrument import (
    mark_activation,
    mark_attention,
    mark_kv_write,
    mark_matmul,
    mark_norm,
)
from hyperion_otel.runtime.config import ArchConfig
from hyperion_otel.runtime.gen_types import GenerationConfig
from hyperion_otel.runtime.kv_cache import CacheConfig, PagedKVCache
from hyperion_otel.runtime.simd import SimdOp
from hyperion_otel.runtime.tokenizer import Tokenizer
from hyperion_otel.runtime.weights import LayerWeights, Weights, pack_weights
from hyperion_otel.validation import token_id_array

if TYPE_CHECKING:
    from hyperion_otel.runtime.generate import Generation, GenerationStream, Prompt

__all__ = ["Model", "Workspace", "configure_cache_optimization"]

_UNIT = blas.BlasUnit()  # stateless: shared by every model without a governor


class _GovernedUnit:
    """A unit of work under a resource governor: the governor's caps, then BLAS threads
    chosen inside them (the pools' size at ``enter_unit`` already carries the cap)."""

    __slots__ = ("gov",)

    def __init__(self, gov: AbstractContextManager[object]) -> None:
        self.gov = gov

    def __enter__(self) -> object:
        self.gov.__enter__()
        try:
            blas.enter_unit()
        except BaseException as exc:
            self.gov.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            blas.exit_unit()
        finally:
            self.gov.__exit__(t, e, tb)


F32 = npt.NDArray[np.float32]


class _Buffers:
    """One layer's activation buffers: qkv, attention output, MLP up and down."""

    __slots__ = ("down", "o", "qkv", "up")

    def __init__(self, ws: Workspace, cfg: ArchConfig, rows: int) -> None:
        up = cfg.d_ff if cfg.architecture == "gpt2" else 2 * cfg.d_ff
        self.qkv = ws._get((rows, cfg.q_dim + 2 * cfg.kv_dim))
        self.o = ws._get((rows, cfg.d_model))
        self.up = ws._get((rows, up))
        self.down = ws._get((rows, cfg.d_model))


class Workspace:
    """Activation buffers for up to ``rows`` tokens, from the allocator seam: one set that
    every layer overwrites in turn, or with ``per_layer`` one set per layer (the memory
    optimizer's in-place switch off: every layer's activations stay intact)."""

    def __init__(
        self, cfg: ArchConfig, rows: int, logit_rows: int, *, per_layer: bool = False
    ) -> None:
        self._alloc = get_allocator()
        self.rows, self.per_layer = rows, per_layer
        self.sets = [_Buffers(self, cfg, rows) for _ in range(cfg.n_layers if per_layer else 1)]
        self.logits = self._get((logit_rows, cfg.vocab_size))

    def _get(self, shape: tuple[int, int]) -> F32:
        arr: F32 = self._alloc.allocate(shape, np.float32)  # type: ignore[assignment]
        return arr

    def layer(self, i: int) -> _Buffers:
        return self.sets[i] if self.per_layer else self.sets[0]

    def free(self) -> None:
        for b in self.sets:
            for buf in (b.qkv, b.o, b.up, b.down):
                self._alloc.free(buf)
        self._alloc.free(self.logits)


@public
class Model:
    """A loaded checkpoint, ready to run. Build it with ``load_model``."""

    def __init__(
        self,
        config: ArchConfig,
        weights: Weights,
        tokenizer: Tokenizer | None,
        name: str,
        path: str,
        format: str,
    ) -> None:
        self.config = config
        self.weights = pack_weights(weights)
        self.tokenizer = tokenizer
        self.name = name
        self.path = path
        self.format = format
        self.simd = SimdOp.ALL
        self.cache_config = CacheConfig()

    @property
    def simd(self) -> SimdOp:
        """Kernel families running vectorised (see ``enable_simd``)."""
        return self._simd

    @simd.setter
    def simd(self, ops: SimdOp) -> None:
        # The kernels are picked here, once, not by flag tests on every op of every step.
        self._simd = ops
        self._linear_kernel = kernels.linear if SimdOp.MATMUL in ops else kernels.linear_reference
        self._vec_attention = SimdOp.ATTENTION in ops
        self._vec_activation = SimdOp.ACTIVATION in ops

    def __repr__(self) -> str:
        c = self.config
        return f"Model({self.name!r}, {c.architecture}, layers={c.n_layers}, d={c.d_model}, vocab={c.vocab_size})"

    @property
    def context_length(self) -> int:
        return self.config.max_positions

    # --- public API ------------------------------------------------------------------------
    def forward(self, input_ids: Sequence[int] | npt.NDArray[np.integer]) -> F32:
        """Logits ``[n_tokens, vocab]`` for every position, computed without a cache."""
        ids = self.check_ids(input_ids, "input_ids")
        with self.work():
            ws = Workspace(self.config, len(ids), len(ids))
            try:
                logits: F32 = self.run(ids, 0, None, ws, last_only=False).copy()
                return logits
            finally:
                ws.free()

    def generate(self, prompt: Prompt, config: GenerationConfig | None = None) -> Generation:
        """Generate a completion of ``prompt`` (a string or token ids); see ``GenerationConfig``."""
        from hyperion_otel.runtime.generate import run_to_completion

        return run_to_completion(self, prompt, config)

    def stream(self, prompt: Prompt, config: GenerationConfig | None = None) -> GenerationStream:
        """Like ``generate`` but yields ``StreamToken``s as they are produced."""
        from hyperion_otel.runtime.generate import GenerationStream

        return GenerationStream(self, prompt, config)

    def greedy_config(self, max_new_tokens: int) -> GenerationConfig:
        """Config of a greedy run (temperature 0) of ``max_new_tokens``: how tools that hold
        only the model run it (``analyze_bottlenecks``)."""
        return GenerationConfig(temperature=0.0, max_new_tokens=max_new_tokens)

    # --- internals -------------------------------------------------------------------------
    def work(self) -> AbstractContextManager[object]:
        """Context around one unit of work (forward, prefill, one decode step): the caps of
        the governor the resources facility installed for this model (BLAS threads, memory,
        CPU throttle), then BLAS threads chosen by the size of each product within them
        (``hyperion_otel._seams.blas``); without a governor, the BLAS choice alone."""
        gov = _governor.governor_of(self)
        return _UNIT if gov is None else _GovernedUnit(gov)

    def check_ids(
        self, input_ids: Sequence[int] | npt.NDArray[np.integer], field: str
    ) -> npt.NDArray[np.int64]:
        return token_id_array(
            input_ids,
            field=field,
            context_length=self.context_length,
            vocab_size=self.config.vocab_size,
        )

    def new_cache(self, on_blocks_changed: object = None) -> PagedKVCache:
        c = self.config
        cb = on_blocks_changed if callable(on_blocks_changed) else None
        return PagedKVCache(
            c.n_layers, c.n_kv_heads, c.head_dim, c.max_positions, self.cache_config, cb
        )

    def _norm(self, x: F32, w: F32, b: F32 | None, layer: int) -> F32:
        with mark_norm(layer, x):
            if self.config.architecture == "gpt2":
                return kernels.layer_norm(x, w, b, self.config.norm_eps)
            return kernels.rms_norm(x, w, self.config.norm_eps)

    def run(
        self,
        ids: npt.NDArray[np.int64],
        pos0: int,
        cache: PagedKVCache | None,
        ws: Workspace,
        last_only: bool,
    ) -> F32:
        """Run ``ids`` (positions ``pos0..``) through the model; logits of all or the last row.

        With ``cache`` the new K/V are appended to it and attention reads the paged
        blocks; without, attention sees only these tokens (``pos0`` must be 0).
        """
        c, w = self.config, self.weights
        t = ids.shape[0]
        x = w.embed[ids]  # [T, d]
        if w.pos_embed is not None:
            x += w.pos_embed[pos0 : pos0 + t]
        rope = None
        if c.architecture == "llama":
            rope = kernels.rope_tables(
                np.arange(pos0, pos0 + t), c.head_dim, c.rope_theta, c.rope_scaling
            )
        for i, lw in enumerate(w.layers):
            self._layer(i, lw, x, pos0, cache, ws, rope)
        if cache is not None:
            cache.advance(t)
        if last_only:
            x = x[-1:]
        h = self._norm(x, w.final_norm_w, w.final_norm_b, -1)
        out = ws.logits[: h.shape[0]]
        self._linear(-1, "lm_head", h, w.head, None, out)
        return out

    def _linear(self, layer: int, label: str, x: F32, wt: F32, b: F32 | None, out: F32) -> F32:
        # Threads are set before the op mark, so that listeners see the count it runs with.
        blas.use(x.shape[0] * wt.size, wt.size)
        with mark_matmul(layer, label, x.shape[0], wt.shape):
            return self._linear_kernel(x, wt, b, out)

    def _layer(
        self,
        i: int,
        lw: LayerWeights,
        x: F32,
        pos0: int,
        cache: PagedKVCache | None,
        ws: Workspace,
        rope: tuple[F32, F32] | None,
    ) -> None:
        # x [T, d] is updated in place with this layer's residual branches.
        c = self.config
        t, nh, nkv, hd = x.shape[0], c.n_heads, c.n_kv_heads, c.head_dim
        buf = ws.layer(i)
        h = self._norm(x, lw.norm1_w, lw.norm1_b, i)
        qkv = self._linear(i, "qkv", h, lw.w_qkv, lw.b_qkv, buf.qkv[:t])  # [T, q + 2 kv]
        q = qkv[:, : c.q_dim].reshape(t, nh, hd).transpose(1, 0, 2)  # [H, T, hd]
        k = (
            qkv[:, c.q_dim : c.q_dim + c.kv_dim].reshape(t, nkv, hd).transpose(1, 0, 2)
        )  # [Hkv, T, hd]
        v = qkv[:, c.q_dim + c.kv_dim :].reshape(t, nkv, hd).transpose(1, 0, 2)
        if rope is not None:
            q, k = kernels.rope(q, *rope), kernels.rope(k, *rope)
        a = self._attend(i, q, k, v, pos0, cache)  # [T, H*hd]
        x += self._linear(i, "attn_out", a, lw.w_o, lw.b_o, buf.o[:t])
        h = self._norm(x, lw.norm2_w, lw.norm2_b, i)
        up = self._linear(i, "mlp_up", h, lw.w_up, lw.b_up, buf.up[:t])
        vec = self._vec_activation
        with mark_activation(i, up):
            if c.architecture == "gpt2":
                act = kernels.gelu_tanh(up) if vec else kernels.gelu_tanh_reference(up)
            else:
                act = (
                    kernels.silu_mul(up, c.d_ff) if vec else kernels.silu_mul_reference(up, c.d_ff)
                )
        x += self._linear(i, "mlp_down", act, lw.w_down, lw.b_down, buf.down[:t])

    def _attend(self, i: int, q: F32, k: F32, v: F32, pos0: int, cache: PagedKVCache | None) -> F32:
        length = pos0 + q.shape[1]
        if cache is not None:
            with mark_kv_write(i, k):
                cache.write(i, k, v)
        with mark_attention(i, q, self.config.n_kv_heads, length):
            blas.use(q.shape[1] * length * q.shape[2] * (q.shape[0] // k.shape[0]))  # per KV head
            if self._vec_attention:
                if cache is None:
                    return kernels.attention(q, k, v, pos0)
                return kernels.attention_paged(q, cache.k_views[i], cache.v_views[i], length, pos0)
            if cache is not None:
                k_all, v_all = cache.gather(i, length)
                return kernels.attention_reference(q, k_all, v_all, pos0)
            return kernels.attention_reference(q, k, v, pos0)


@public
def configure_cache_optimization(model: Model, config: CacheConfig) -> None:
    """Use ``config`` (block size, prefetch) for the KV caches of ``model``'s next generations."""
    if not isinstance(model, Model):
        raise InvalidInputError(
            f"model must be a Model, got {type(model).__name__}",
            field="model",
            value=repr(model)[:80],
        )
    if not isinstance(config, CacheConfig):
        raise InvalidInputError(
            f"config must be a CacheConfig, got {type(config).__name__}",
            field="config",
            value=repr(config)[:80],
        )
    model.cache_config = config
