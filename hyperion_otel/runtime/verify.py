"""``verify_model`` and ``get_model_info``: inspect a checkpoint without loading it whole.

Both read headers and the config; ``verify_model`` also scans tensor values for NaN/inf,
whole for small tensors and as evenly spread rows for large ones, one tensor at a time.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyperion_otel.errors import HyperionError, ModelError, public
from hyperion_otel.runtime.config import ArchConfig
from hyperion_otel.runtime.formats import TensorSource
from hyperion_otel.runtime.loader import open_checkpoint, resolve_model_path
from hyperion_otel.runtime.weights import expected_tensors, resolve_names

__all__ = ["ModelInfo", "ModelVerification", "get_model_info", "verify_model"]

DEFAULT_MAX_CHECK_ELEMENTS = 1 << 20  # per tensor; larger tensors are sampled
MAX_PROBLEMS = 100


@public
@dataclass(frozen=True)
class ModelVerification:
    """Result of ``verify_model``: ``ok`` is true when ``problems`` is empty.

    ``warnings`` name metadata the runtime ignores because it is unusable (a BOS or stop
    token id outside the vocabulary); they do not stop the model from loading."""

    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    format: str | None = None
    tensors_checked: int = 0
    values_checked: int = 0
    sampled: bool = False
    warnings: list[str] = field(default_factory=list)


@public
@dataclass(frozen=True)
class ModelInfo:
    path: str
    format: str
    format_version: str | None
    architecture: str  # HF class name, e.g. "LlamaForCausalLM"
    parameters: int
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    vocab_size: int
    context_length: int
    dtype: str  # dominant weight dtype by bytes, e.g. "F16"
    size_bytes: int
    tokenizer: str | None  # "byte", "hf" (tokenizer.json), "gguf" (embedded) or None
    # Memory of the weights once loaded: every tensor the model uses, as float32 (the
    # runtime computes in float32 whatever the file stores; a tied head counts once).
    loaded_bytes: int = 0
    # loaded_bytes less the same tensors as stored: what the float32 upcast costs
    # (0 for F32; as much again as stored for F16/BF16; 2.76x the stored bytes for Q8_0).
    upcast_bytes: int = 0


def _size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


@public
def get_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Describe a checkpoint from its config and headers; ``ModelError`` if unreadable."""
    resolved = resolve_model_path(path)
    cfg, source, tok = open_checkpoint(resolved)
    try:
        infos = source.infos()
        mapping, _problems = resolve_names(cfg, infos)
        used = [infos[name] for name in mapping.values()]
        by_dtype: Counter[str] = Counter()
        for info in used:
            by_dtype[info.dtype] += info.nbytes
        loaded = sum(4 * math.prod(i.shape) for i in used)
        return ModelInfo(
            path=str(resolved.path),
            format=source.format,
            format_version=source.format_version,
            architecture=cfg.hf_architecture,
            parameters=sum(math.prod(i.shape) for i in used),
            layers=cfg.n_layers,
            hidden_size=cfg.d_model,
            heads=cfg.n_heads,
            kv_heads=cfg.n_kv_heads,
            vocab_size=cfg.vocab_size,
            context_length=cfg.max_positions,
            dtype=by_dtype.most_common(1)[0][0] if by_dtype else "unknown",
            size_bytes=_size_on_disk(resolved.path),
            tokenizer=tok.kind if tok is not None else None,
            loaded_bytes=loaded,
            upcast_bytes=loaded - sum(i.nbytes for i in used),
        )
    finally:
        source.close()


@public
def verify_model(
    path: str | os.PathLike[str], max_check_elements: int = DEFAULT_MAX_CHECK_ELEMENTS
) -> ModelVerification:
    """Check a checkpoint and report every problem found; never raises for a bad file.

    Checks: the path and format, header sanity (lengths, offsets, dtypes), config values
    and consistency, tensor names and shapes against the architecture, weight dtypes and
    finite values (tensors over ``max_check_elements`` elements are sampled by rows).
    """
    text = os.fspath(path)
    try:
        resolved = resolve_model_path(path)
        cfg, source, _tok = open_checkpoint(resolved)
    except HyperionError as exc:
        return ModelVerification(text, False, [exc.message])
    try:
        return _verify_tensors(text, cfg, source, max_check_elements)
    finally:
        source.close()


def _verify_tensors(
    text: str, cfg: ArchConfig, source: TensorSource, max_elems: int
) -> ModelVerification:
    infos = source.infos()
    mapping, problems = resolve_names(cfg, infos)
    expected = expected_tensors(cfg)
    checked = values = 0
    sampled = False
    for canon, name in mapping.items():
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"stopped after {MAX_PROBLEMS} problems")
            break
        info = infos[name]
        if info.dtype not in ("F32", "F16", "BF16", "F64", "Q8_0") or info.shape != expected[canon]:
            continue  # already reported by resolve_names
        sampled |= math.prod(info.shape) > max_elems
        try:
            bad = 0
            for chunk in source.sample_fp32(name, max_elems):
                values += chunk.size
                bad += int(chunk.size - np.count_nonzero(np.isfinite(chunk)))
        except (ModelError, OSError, ValueError) as exc:
            problems.append(f"tensor {name!r} cannot be read: {exc}")
            continue
        checked += 1
        if bad:
            problems.append(
                f"tensor {name!r} has {bad} NaN or infinite values{' in the sampled rows' if sampled else ''}"
            )
    return ModelVerification(
        text,
        not problems,
        problems,
        source.format,
        checked,
        values,
        sampled,
        list(cfg.warnings),
    )
