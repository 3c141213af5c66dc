"""``load_model``: a checkpoint directory, a GGUF file or ``builtin:NAME`` into a ``Model``."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.errors import InvalidInputError, ModelError, public
from hyperion_otel.runtime import _instrument as ins
from hyperion_otel.runtime.config import ArchConfig, SizeLimits, parse_config, read_config_file
from hyperion_otel.runtime.formats import TensorSource
from hyperion_otel.runtime.kv_cache import CacheConfig
from hyperion_otel.runtime.model import Model
from hyperion_otel.runtime.tokenizer import Tokenizer, load_tokenizer

_log = logging.getLogger("hyperion.model")

__all__ = ["BUILTIN_MODELS", "ResolvedPath", "load_model", "open_checkpoint", "resolve_model_path"]

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = ("tiny",)
CONFIG_FILE = "config.json"
GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class ResolvedPath:
    path: Path
    name: str  # model name used in telemetry (gen_ai.request.model)
    kind: str  # "directory" | "gguf"


def resolve_model_path(path: str | os.PathLike[str]) -> ResolvedPath:
    """Find what ``path`` names; ``ModelError`` when there is nothing loadable there."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(
            f"model path must be a str or os.PathLike (a checkpoint directory, a .gguf file or "
            f"'builtin:tiny'), got {type(path).__name__} {path!r}",
            field="path",
        )
    text = os.fspath(path)
    if isinstance(text, str) and text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
        if name not in BUILTIN_MODELS:
            raise ModelError(
                f"{text}: unknown built-in model {name!r} (available: {', '.join(BUILTIN_MODELS)})",
                path=text,
            )
        directory = Path(str(resources.files("hyperion_otel.runtime") / "builtin" / name))
        if not (directory / CONFIG_FILE).is_file():
            raise ModelError(
                f"{text}: the built-in model is not installed ({directory} has no {CONFIG_FILE})",
                path=text,
            )
        return ResolvedPath(directory, text, "directory")
    p = Path(text)
    if not p.exists():
        raise ModelError(f"{p}: no such file or directory", path=str(p))
    if p.is_dir():
        return ResolvedPath(p, p.resolve().name or str(p), "directory")
    if p.suffix.lower() == GGUF_SUFFIX:
        return ResolvedPath(p, p.stem, "gguf")
    if p.name == CONFIG_FILE:
        return ResolvedPath(p.parent, p.parent.resolve().name, "directory")
    raise ModelError(
        f"{p}: not a checkpoint directory (config.json + safetensors) or a .gguf file", path=str(p)
    )


def open_checkpoint(
    resolved: ResolvedPath, limits: SizeLimits | None = None
) -> tuple[ArchConfig, TensorSource, Tokenizer | None]:
    """Parse the config and open the tensors (headers only; no tensor data is read)."""
    if resolved.kind == "gguf":
        from hyperion_otel.runtime.formats.gguf import open_gguf

        return open_gguf(resolved.path, limits)
    from hyperion_otel.runtime.formats.safetensors import SafetensorsCheckpoint

    directory = resolved.path
    cfg_path = directory / CONFIG_FILE
    cfg = parse_config(read_config_file(cfg_path), str(cfg_path), limits)
    source = SafetensorsCheckpoint(directory)
    return cfg, source, load_tokenizer(directory, cfg.tokenizer, cfg.bos_token_id)


@public
def load_model(
    path: str | os.PathLike[str],
    *,
    cache_config: CacheConfig | None = None,
    limits: SizeLimits | None = None,
) -> Model:
    """Load a model: an HF-style directory (config.json + safetensors), a GGUF file, or
    ``"builtin:tiny"``. Weights become float32 once, here. Failures raise ``ModelError``.
    """
    start = time.perf_counter()
    shown = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    span = ins.start_span(semconv.SPAN_MODEL_LOAD, {semconv.HYPERION_MODEL_PATH: str(shown)})
    try:
        with trace.use_span(span, record_exception=False, set_status_on_exception=False):
            resolved = resolve_model_path(path)
            cfg, source, tokenizer = open_checkpoint(resolved, limits)
            for note in cfg.warnings:
                _log.warning("%s", note, extra={"model": resolved.name, "path": str(resolved.path)})
            from hyperion_otel.runtime.weights import build_weights

            try:
                weights = build_weights(cfg, source)
            finally:
                source.close()
            model = Model(cfg, weights, tokenizer, resolved.name, str(resolved.path), source.format)
            if cache_config is not None:
                model.cache_config = cache_config
            span.set_attribute(semconv.HYPERION_MODEL_NAME, resolved.name)
            span.set_attribute(semconv.HYPERION_MODEL_ARCHITECTURE, cfg.hf_architecture)
            span.set_attribute(semconv.HYPERION_MODEL_FORMAT, source.format)
            span.set_attribute(semconv.HYPERION_MODEL_PARAMETERS, cfg.parameter_count())
            _log.info(
                "loaded %s (%s, %s, %.1fM parameters, %d layers) in %.2f s",
                resolved.name,
                cfg.hf_architecture,
                source.format,
                cfg.parameter_count() / 1e6,
                cfg.n_layers,
                time.perf_counter() - start,
                extra={
                    semconv.HYPERION_MODEL_NAME: resolved.name,
                    semconv.HYPERION_MODEL_PATH: str(resolved.path),
                    semconv.HYPERION_MODEL_FORMAT: source.format,
                },
            )
            return model
    except BaseException as exc:
        ins.record_failure(span, exc)
        raise
    finally:
        span.end()
