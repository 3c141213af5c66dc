"""The runtime's telemetry: spans, GenAI metrics and op marks, through the telemetry face.

Only the OTel API is used (via ``hyperion_otel._seams.telemetry``); with no SDK configured all
of it is a cheap no-op. Op attributes are computed only when an op listener is attached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from hyperion_otel import semconv
from hyperion_otel._seams import genai, ops as _ops, telemetry as _telemetry

# Shared with the integrations' generate paths through the GenAI seam; re-exported so the
# runtime keeps one import for its telemetry.
from hyperion_otel._seams.genai import (
    record_request_metrics,
    set_capture_content,
    start_span,
)
from hyperion_otel.errors import ConfigError, record_error
from hyperion_otel.settings import read_setting

__all__ = [
    "capture_content_enabled",
    "kv_blocks_callback",
    "mark",
    "mark_activation",
    "mark_attention",
    "mark_kv_write",
    "mark_matmul",
    "mark_norm",
    "record_failure",
    "record_request_metrics",
    "set_capture_content",
    "start_span",
]


def capture_content_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether prompt/output text may go into telemetry (GenAI opt-in switch).

    Without ``configure()`` the variable is read at generate time, so flipping it takes
    effect without reloading; a value that is not a boolean counts as off.
    """
    pinned = genai.pinned_capture_content()
    if pinned is not None and environ is None:
        return pinned
    try:
        return bool(read_setting("capture_message_content", environ))
    except ConfigError:
        return False


def record_failure(span: Span, exc: BaseException) -> None:
    """The single place where the runtime reports a failure: through ``record_error``
    (span status ERROR + ``error.type``, exception log record, ``hyperion.errors``, last
    error, callbacks). Never raises; an exception already recorded deeper is not counted
    twice, but this span is still marked."""
    if not isinstance(exc, Exception):  # KeyboardInterrupt and friends: mark, don't record
        try:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        except Exception:  # noqa: BLE001 - telemetry must never break the caller
            return
        return
    record_error(exc, span=span)


def kv_blocks_callback(model_name: str) -> Callable[[int], None]:
    """Callback for the KV cache: adds the change in blocks in use to ``hyperion.kv_cache.usage``."""
    attrs = {semconv.GEN_AI_REQUEST_MODEL: model_name}

    def changed(delta: int) -> None:
        try:
            _telemetry.up_down_counter(
                semconv.METRIC_KV_CACHE_USAGE, "{block}", "KV cache blocks in use"
            ).add(delta, attrs)
        except Exception:  # noqa: BLE001 - telemetry must never break the caller
            return

    return changed


def mark(name: str, **attrs: Any) -> Any:
    """``_ops.op`` with attributes, or the shared no-op when nobody listens."""
    if not _ops.has_listeners():
        return _ops.NULL_OP
    return _ops.op(name, **attrs)


# Op sites by (op, layer, ...shape): made once, reused by every step at that shape.
# Decode repeats the same few per layer; each new prompt length adds a few per layer, so
# the table is cleared when it reaches this size (sites are cheap to make again).
_MAX_SITES = 4096
_sites: dict[tuple[Any, ...], _ops.OpSite] = {}
_Mark = Callable[[int, Any], Any]


def _remember(key: tuple[Any, ...], s: _ops.OpSite) -> _ops.OpSite:
    if len(_sites) >= _MAX_SITES:
        _sites.clear()
    _sites[key] = s
    return s


def mark_matmul(
    layer: int, label: str, rows: int, w_shape: tuple[int, ...], itemsize: int = 4
) -> Any:
    """Op mark for ``x [rows, k] @ W[n, k].T``: 2 rows k n flops, weight + in/out bytes."""
    block = _ops.block
    if block is None and not _ops.has_listeners():
        return _ops.NULL_OP
    key = (label, layer, rows, w_shape, itemsize)
    s = _sites.get(key)
    if s is None:
        n, k = w_shape[0], w_shape[1]
        s = _remember(
            key,
            _ops.site(
                semconv.OP_MATMUL,
                layer=layer,
                label=label,
                shape=(rows, k, n),
                flops=2 * rows * k * n,
                nbytes=(k * n + rows * k + rows * n) * itemsize,
            ),
        )
    return block(s) if block is not None else _ops.op_at(s)


def _elementwise_mark(op: str, flops_per_item: int, bytes_per_byte: int, doc: str) -> _Mark:
    """An op mark over one array ``a``: ``flops_per_item`` flops an element and
    ``bytes_per_byte`` times its bytes moved. A closure, not a shared helper the marks
    call: a Python frame per op is a cost the profiler's overhead shows."""

    def mark(layer: int, a: Any) -> Any:
        block = _ops.block
        if block is None and not _ops.has_listeners():
            return _ops.NULL_OP
        key = (op, layer, a.shape, a.itemsize)
        s = _sites.get(key)
        if s is None:
            s = _remember(
                key,
                _ops.site(
                    op,
                    layer=layer,
                    shape=a.shape,
                    flops=flops_per_item * a.size,
                    nbytes=bytes_per_byte * a.nbytes,
                ),
            )
        return block(s) if block is not None else _ops.op_at(s)

    mark.__doc__ = doc
    return mark


mark_norm = _elementwise_mark(semconv.OP_NORM, 8, 2, "Op mark for a norm over ``x [T, d]``.")
mark_activation = _elementwise_mark(
    semconv.OP_MLP, 8, 2, "Op mark for the MLP activation over ``up [T, ff or 2 ff]``."
)
mark_kv_write = _elementwise_mark(
    semconv.OP_KV_CACHE, 0, 4, "Op mark for appending ``k, v [Hkv, T, hd]`` to the KV cache."
)


def mark_attention(layer: int, q: Any, n_kv_heads: int, length: int) -> Any:
    """Op mark for attention of ``q [H, T, hd]`` over ``length`` cached positions (a new
    length each step: not worth a site)."""
    if not _ops.has_listeners():
        return _ops.NULL_OP
    h, t, hd = q.shape
    return _ops.op(
        semconv.OP_ATTENTION,
        layer=layer,
        shape=(h, t, length, hd),
        flops=4 * h * t * length * hd,
        nbytes=(2 * n_kv_heads * length * hd + 2 * h * t * hd) * 4,
    )
