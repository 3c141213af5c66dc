"""What one ``generate`` call asks for: model name, inputs, and the effective GenerationConfig.

Shapes: ``input_ids`` / ``attention_mask`` are ``[batch, prompt_len]`` tensors (left padded
for batched decoder-only generation); the effective config is the one ``generate`` builds
itself (keyword arguments > the call's ``generation_config`` > ``model.generation_config``
> library defaults),
obtained through the same method so the attributes cannot drift from what ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperion_otel import semconv
from hyperion_otel._seams import genai as _genai

__all__ = ["Request", "model_name", "read_request"]

# Positional parameters of GenerationMixin.generate after self (transformers 4.50 .. 5.x).
_POSITIONAL = ("inputs", "generation_config", "logits_processor", "stopping_criteria")


@dataclass
class Request:
    model: str
    attrs: dict[str, _genai.AttrValue]
    input_ids: Any = None  # [batch, prompt_len] tensor, or None (inputs_embeds only)
    attention_mask: Any = None
    eos_ids: frozenset[int] = field(default_factory=frozenset)
    pad_id: int | None = None
    max_new_tokens: int | None = None
    is_encoder_decoder: bool = False

    @property
    def metric_attrs(self) -> dict[str, _genai.AttrValue]:
        return {k: v for k, v in self.attrs.items() if k in _genai.METRIC_KEYS}


def model_name(model: Any) -> str:
    """``gen_ai.request.model``: the hub id, or a local checkpoint directory's name (as our
    runtime names a checkpoint), else the architecture's ``model_type``."""
    config = getattr(model, "config", None)
    name = str(getattr(config, "name_or_path", "") or "")
    if name and (os.path.isabs(name) or name.startswith((".", "~"))):
        name = os.path.basename(os.path.normpath(name))
    return name or str(getattr(config, "model_type", "") or type(model).__name__)


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> Any:
    i = _POSITIONAL.index(name)
    return args[i] if len(args) > i else kwargs.get(name)


def _ids(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, int):
        return frozenset((value,))
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, int):
        return frozenset((value,))
    return frozenset(int(v) for v in value)


def _effective_config(model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    prepare = getattr(model, "_prepare_generation_config", None)
    if prepare is None:
        return None
    options = {k: v for k, v in kwargs.items() if k not in _POSITIONAL}
    config, _ = prepare(_arg(args, kwargs, "generation_config"), **options)
    return config


def read_request(model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Request:
    """The call's span attributes and what counting its tokens needs; never raises for an
    unusual call (a missing piece is left out, as "unknown")."""
    name = model_name(model)
    attrs: dict[str, _genai.AttrValue] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_TEXT_COMPLETION,
        semconv.GEN_AI_PROVIDER_NAME: semconv.GEN_AI_PROVIDER_TRANSFORMERS,
        semconv.GEN_AI_REQUEST_MODEL: name,
    }
    req = Request(name, attrs)
    config = getattr(model, "config", None)
    req.is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    inputs = _arg(args, kwargs, "inputs")
    if inputs is None:
        inputs = kwargs.get("input_ids")
    if hasattr(inputs, "ndim") and inputs.ndim == 2 and not inputs.is_floating_point():
        req.input_ids = inputs
    mask: Any = kwargs.get("attention_mask")
    if req.input_ids is not None and getattr(mask, "shape", None) == req.input_ids.shape:
        req.attention_mask = mask
    try:
        gc = _effective_config(model, args, kwargs)
    except Exception:  # noqa: BLE001 - generate raises the same, and records it on the span
        gc = None
    if gc is not None:
        _from_config(req, gc)
    return req


def _from_config(req: Request, gc: Any) -> None:
    attrs = req.attrs
    req.eos_ids = _ids(gc.eos_token_id)
    req.pad_id = gc.pad_token_id if isinstance(gc.pad_token_id, int) else None
    if gc.max_new_tokens is not None:
        req.max_new_tokens = int(gc.max_new_tokens)
    elif gc.max_length is not None and req.input_ids is not None and not req.is_encoder_decoder:
        req.max_new_tokens = max(0, int(gc.max_length) - int(req.input_ids.shape[-1]))
    if req.max_new_tokens is not None:
        attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] = req.max_new_tokens
    if gc.do_sample:
        if gc.temperature is not None:
            attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] = float(gc.temperature)
        if gc.top_k is not None:
            attrs[semconv.GEN_AI_REQUEST_TOP_K] = float(gc.top_k)
        if gc.top_p is not None:
            attrs[semconv.GEN_AI_REQUEST_TOP_P] = float(gc.top_p)
    elif int(gc.num_beams or 1) == 1:
        # Greedy: what temperature 0 means in our runtime and in the GenAI APIs; top_k and
        # top_p do not apply and are left out.
        attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] = 0.0
    stops = gc.stop_strings
    if stops:
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = (
            [stops] if isinstance(stops, str) else [str(s) for s in stops]
        )
