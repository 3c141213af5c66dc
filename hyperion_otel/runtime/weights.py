"""Checkpoint tensor names and shapes per architecture, and the runtime's weight layout.

Weights are converted once at load to float32, C-contiguous, in ``nn.Linear`` layout
``[out, in]`` and applied as ``x @ W.T``: GPT-2 Conv1D weights ``[in, out]`` are
transposed, Llama's are kept. For a decode step (one row) the matmuls are GEMVs that
stream every weight byte once; with ``[out, in]`` BLAS runs them as dot products over
contiguous rows, measured here 1.7-4x faster with 2 OpenBLAS threads than the
``[in, out]`` (axpy) form, which loses badly when the cores are shared. Q, K and V are
fused into one ``[q + 2 kv, d]`` matrix and Llama's gate and up projections into one
``[2 ff, d]`` matrix, so a layer does 4 GEMMs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.config import ArchConfig
from hyperion_otel.runtime.formats import TensorInfo, TensorSource

__all__ = [
    "LayerWeights",
    "Weights",
    "build_weights",
    "expected_tensors",
    "pack_weights",
    "resolve_names",
]

F32 = npt.NDArray[np.float32]
Shape = tuple[int, ...]


class _Get(Protocol):
    def __call__(self, canon: str, transpose: bool = False, out: F32 | None = None) -> F32: ...


@dataclass
class LayerWeights:
    norm1_w: F32  # [d]
    norm1_b: F32 | None
    w_qkv: F32  # [q + 2 kv, d]
    b_qkv: F32 | None
    w_o: F32  # [d, q]
    b_o: F32 | None
    norm2_w: F32
    norm2_b: F32 | None
    w_up: F32  # gpt2: [ff, d]; llama: [2 ff, d] = gate | up
    b_up: F32 | None
    w_down: F32  # [d, ff]
    b_down: F32 | None


@dataclass
class Weights:
    embed: F32  # [vocab, d]
    pos_embed: F32 | None  # [positions, d] (gpt2)
    layers: list[LayerWeights]
    final_norm_w: F32
    final_norm_b: F32 | None
    head: F32  # [vocab, d]; the embedding itself when tied

    @property
    def nbytes(self) -> int:
        arrays = [self.embed, self.pos_embed, self.final_norm_w, self.final_norm_b]
        if not self.tied:
            arrays.append(self.head)
        for lw in self.layers:
            arrays.extend(vars(lw).values())
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def tied(self) -> bool:
        return self.head is self.embed

    @property
    def packed(self) -> bool:
        """Whether the matrices are views of one buffer (see ``pack_weights``)."""
        return self.head.base is not None and self.head.base is self.layers[0].w_qkv.base


# Matrices start on 64-byte boundaries (a cache line, an AVX-512 register) in the buffer.
_ALIGN = 16


def pack_weights(w: Weights) -> Weights:
    """Move every matrix into one buffer, in the order a forward pass reads them.

    A decode step streams every weight byte once through GEMVs. From one buffer (one
    allocation, so numpy backs it with transparent huge pages, and read front to back)
    those GEMVs took 8-10% less CPU time here than from separate arrays, where matrices
    under 4 MiB (numpy's huge-page threshold) sit on 4 KiB pages. Each matrix is copied
    and its old array dropped in turn, so memory peaks at about one matrix above the
    weights' size. Returns ``w``, changed in place.
    """
    if not w.layers or w.packed:
        return w
    names = ("w_qkv", "w_o", "w_up", "w_down")
    mats = [getattr(lw, n) for lw in w.layers for n in names] + [w.head]
    sizes = [-(-m.size // _ALIGN) * _ALIGN for m in mats]
    buf = np.empty(sum(sizes), np.float32)
    off = 0
    slots: list[F32] = []
    for m, n in zip(mats, sizes, strict=True):
        slots.append(buf[off : off + m.size].reshape(m.shape))
        off += n
    del mats
    i = 0
    for lw in w.layers:
        for n in names:
            slots[i][...] = getattr(lw, n)
            setattr(lw, n, slots[i])
            i += 1
    tied = w.tied
    slots[i][...] = w.head
    w.head = slots[i]
    if tied:
        w.embed = w.head
    return w


def expected_tensors(cfg: ArchConfig) -> dict[str, Shape]:
    """Canonical HF tensor names and shapes (GPT-2 names without the ``transformer.`` prefix)."""
    d, ff, v, q, kv = cfg.d_model, cfg.d_ff, cfg.vocab_size, cfg.q_dim, cfg.kv_dim
    out: dict[str, Shape] = {}
    if cfg.architecture == "gpt2":
        out |= {
            "wte.weight": (v, d),
            "wpe.weight": (cfg.max_positions, d),
            "ln_f.weight": (d,),
            "ln_f.bias": (d,),
        }
        for i in range(cfg.n_layers):
            p = f"h.{i}."
            out |= {
                p + "ln_1.weight": (d,),
                p + "ln_1.bias": (d,),
                p + "attn.c_attn.weight": (d, 3 * d),
                p + "attn.c_attn.bias": (3 * d,),
                p + "attn.c_proj.weight": (d, d),
                p + "attn.c_proj.bias": (d,),
                p + "ln_2.weight": (d,),
                p + "ln_2.bias": (d,),
                p + "mlp.c_fc.weight": (d, ff),
                p + "mlp.c_fc.bias": (ff,),
                p + "mlp.c_proj.weight": (ff, d),
                p + "mlp.c_proj.bias": (d,),
            }
        return out
    out |= {"model.embed_tokens.weight": (v, d), "model.norm.weight": (d,)}
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = (v, d)
    for i in range(cfg.n_layers):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (d,),
            p + "post_attention_layernorm.weight": (d,),
            p + "self_attn.q_proj.weight": (q, d),
            p + "self_attn.k_proj.weight": (kv, d),
            p + "self_attn.v_proj.weight": (kv, d),
            p + "self_attn.o_proj.weight": (d, q),
            p + "mlp.gate_proj.weight": (ff, d),
            p + "mlp.up_proj.weight": (ff, d),
            p + "mlp.down_proj.weight": (d, ff),
        }
        if cfg.attention_bias:
            out |= {
                p + "self_attn.q_proj.bias": (q,),
                p + "self_attn.k_proj.bias": (kv,),
                p + "self_attn.v_proj.bias": (kv,),
                p + "self_attn.o_proj.bias": (d,),
            }
        if cfg.mlp_bias:
            out |= {
                p + "mlp.gate_proj.bias": (ff,),
                p + "mlp.up_proj.bias": (ff,),
                p + "mlp.down_proj.bias": (d,),
            }
    return out


def resolve_names(
    cfg: ArchConfig, infos: dict[str, TensorInfo]
) -> tuple[dict[str, str], list[str]]:
    """Map canonical names to names in the file; also list the problems found.

    Problems: missing tensors, wrong shapes, non-float dtypes. GPT-2 files may carry a
    ``transformer.`` prefix on every name.
    """
    expected = expected_tensors(cfg)
    prefix = ""
    if (
        cfg.architecture == "gpt2"
        and "wte.weight" not in infos
        and "transformer.wte.weight" in infos
    ):
        prefix = "transformer."
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for canon, shape in expected.items():
        name = prefix + canon
        info = infos.get(name)
        if info is None:
            problems.append(f"missing tensor {name!r} (expected shape {list(shape)})")
            continue
        if info.shape != shape:
            problems.append(f"tensor {name!r} has shape {list(info.shape)}, expected {list(shape)}")
        if info.dtype not in ("F32", "F16", "BF16", "F64", "Q8_0"):
            problems.append(f"tensor {name!r} has dtype {info.dtype}, expected F32, F16 or BF16")
        mapping[canon] = name
    return mapping, problems


def _check_finite(name: str, arr: F32, path: str) -> F32:
    # A sum is finite only if every term is (NaN and inf propagate; an overflow to inf
    # falls through to the exact count), and it reads the tensor once without a mask.
    if np.isfinite(np.add.reduce(arr, axis=None, dtype=np.float64)):
        return arr
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ModelError(f"{path}: tensor {name!r} has {bad} NaN or infinite values", path=path)
    return arr


def build_weights(cfg: ArchConfig, source: TensorSource) -> Weights:
    """Read every tensor once, validate it, and lay it out for the runtime.

    The matrices are read straight into their places in one buffer, laid out as
    ``pack_weights`` lays them (so loading copies each weight byte once).
    """
    mapping, problems = resolve_names(cfg, source.infos())
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(f"{source.path}: {problems[0]}{more}", path=source.path, problems=problems)
    d, q, kv = cfg.d_model, cfg.q_dim, cfg.kv_dim
    up = cfg.d_ff if cfg.architecture == "gpt2" else 2 * cfg.d_ff
    per_layer = [(q + 2 * kv, d), (d, q), (up, d), (d, cfg.d_ff)]
    slots = _slots([*(per_layer * cfg.n_layers), (cfg.vocab_size, d)])

    def get(canon: str, transpose: bool = False, out: F32 | None = None) -> F32:
        arr = source.read_fp32(mapping[canon], transpose=transpose, out=out)
        return _check_finite(mapping[canon], arr, source.path)

    def opt(canon: str) -> F32 | None:
        return get(canon) if canon in mapping else None

    head = slots[-1]
    if cfg.architecture == "gpt2":
        embed = get("wte.weight", out=head)
        layers = [
            _gpt2_layer(get, f"h.{i}.", slots[4 * i : 4 * i + 4]) for i in range(cfg.n_layers)
        ]
        return Weights(
            embed, get("wpe.weight"), layers, get("ln_f.weight"), get("ln_f.bias"), embed
        )
    layers = [
        _llama_layer(get, opt, f"model.layers.{i}.", slots[4 * i : 4 * i + 4], q, kv, cfg.d_ff)
        for i in range(cfg.n_layers)
    ]
    if cfg.tie_word_embeddings:
        embed = get("model.embed_tokens.weight", out=head)
        return Weights(embed, None, layers, get("model.norm.weight"), None, embed)
    embed = get("model.embed_tokens.weight")
    head = get("lm_head.weight", out=head)
    return Weights(embed, None, layers, get("model.norm.weight"), None, head)


def _slots(shapes: list[tuple[int, int]]) -> list[F32]:
    """Views ``[shape]`` into one new buffer, each starting on a 64-byte boundary."""
    sizes = [-(-(a * b) // _ALIGN) * _ALIGN for a, b in shapes]
    buf = np.empty(sum(sizes), np.float32)
    out, off = [], 0
    for (a, b), n in zip(shapes, sizes, strict=True):
        out.append(buf[off : off + a * b].reshape(a, b))
        off += n
    return out


def _gpt2_layer(get: _Get, p: str, slots: list[F32]) -> LayerWeights:
    # Conv1D [in, out] read transposed into the runtime's [out, in].
    qkv, o, up, down = slots
    return LayerWeights(
        norm1_w=get(p + "ln_1.weight"),
        norm1_b=get(p + "ln_1.bias"),
        w_qkv=get(p + "attn.c_attn.weight", True, qkv),
        b_qkv=get(p + "attn.c_attn.bias"),
        w_o=get(p + "attn.c_proj.weight", True, o),
        b_o=get(p + "attn.c_proj.bias"),
        norm2_w=get(p + "ln_2.weight"),
        norm2_b=get(p + "ln_2.bias"),
        w_up=get(p + "mlp.c_fc.weight", True, up),
        b_up=get(p + "mlp.c_fc.bias"),
        w_down=get(p + "mlp.c_proj.weight", True, down),
        b_down=get(p + "mlp.c_proj.bias"),
    )


def _llama_layer(
    get: _Get,
    opt: Callable[[str], F32 | None],
    p: str,
    slots: list[F32],
    q: int,
    kv: int,
    ff: int,
) -> LayerWeights:
    a, m = p + "self_attn.", p + "mlp."
    w_qkv, w_o, w_up, w_down = slots
    # [q | k | v, d]: one GEMM gives all three projections; [gate | up, d] likewise.
    get(a + "q_proj.weight", False, w_qkv[:q])
    get(a + "k_proj.weight", False, w_qkv[q : q + kv])
    get(a + "v_proj.weight", False, w_qkv[q + kv :])
    get(m + "gate_proj.weight", False, w_up[:ff])
    get(m + "up_proj.weight", False, w_up[ff:])
    qb, kb, vb = opt(a + "q_proj.bias"), opt(a + "k_proj.bias"), opt(a + "v_proj.bias")
    b_qkv = (
        np.concatenate([qb, kb, vb])
        if qb is not None and kb is not None and vb is not None
        else None
    )
    gb, ub = opt(m + "gate_proj.bias"), opt(m + "up_proj.bias")
    return LayerWeights(
        norm1_w=get(p + "input_layernorm.weight"),
        norm1_b=None,
        w_qkv=w_qkv,
        b_qkv=b_qkv,
        w_o=get(a + "o_proj.weight", False, w_o),
        b_o=opt(a + "o_proj.bias"),
        norm2_w=get(p + "post_attention_layernorm.weight"),
        norm2_b=None,
        w_up=w_up,
        b_up=np.concatenate([gb, ub]) if gb is not None and ub is not None else None,
        w_down=get(m + "down_proj.weight", False, w_down),
        b_down=opt(m + "down_proj.bias"),
    )
