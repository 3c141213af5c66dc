"""Logits against the independent reference; cached decode against full recompute."""

from __future__ import annotations

import numpy as np
import pytest

from hyperion_otel.runtime import (
    CacheConfig,
    SimdOp,
    configure_cache_optimization,
    enable_simd,
    load_model,
)
from hyperion_otel.runtime.model import Workspace

from runtime.checkpoints import stored_as
from runtime.reference import gpt2_logits, llama_logits

IDS = [3, 17, 5, 42, 0, 9, 33, 12, 7, 21, 4]


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_gpt2_logits_match_reference(make_gpt2, dtype):
    ck = make_gpt2(dtype=dtype)
    model = load_model(ck.path)
    want = gpt2_logits(stored_as(ck.weights, dtype), ck.cfg, IDS)
    got = model.forward(IDS)
    assert got.shape == (len(IDS), ck.cfg["vocab_size"])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_gpt2_transformer_prefix_and_shards(make_gpt2):
    plain = make_gpt2("plain")
    prefixed = make_gpt2("prefixed", prefix="transformer.", shards=3)
    a = load_model(plain.path).forward(IDS)
    b = load_model(prefixed.path).forward(IDS)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_llama_gqa_logits_match_reference(make_llama, dtype):
    ck = make_llama(dtype=dtype)
    model = load_model(ck.path)
    want = llama_logits(stored_as(ck.weights, dtype), ck.cfg, IDS)
    np.testing.assert_allclose(model.forward(IDS), want, atol=1e-4, rtol=1e-4)


def test_llama_tied_head_and_rope_parameters(make_llama):
    ck = make_llama(
        tie_word_embeddings=True,
        num_key_value_heads=6,
        rope_theta=None,
        rope_parameters={"rope_theta": 300.0, "rope_type": "default"},
    )
    want = llama_logits(ck.weights, {**ck.cfg, "rope_theta": 300.0}, IDS)
    np.testing.assert_allclose(load_model(ck.path).forward(IDS), want, atol=1e-4, rtol=1e-4)


def _cached_logits(model, ids, split):
    """Prefill ids[:split] then decode the rest one at a time through the paged cache."""
    cache = model.new_cache()
    ws = Workspace(model.config, len(ids), len(ids))
    rows = []
    try:
        cache.reserve(split)
        rows.append(model.run(np.array(ids[:split]), 0, cache, ws, last_only=False).copy())
        for t in ids[split:]:
            cache.reserve(1)
            rows.append(model.run(np.array([t]), cache.length, cache, ws, last_only=False).copy())
    finally:
        ws.free()
        cache.free()
    return np.concatenate(rows)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("block_size,prefetch", [(1, False), (4, True), (5, False), (64, True)])
def test_cached_decode_equals_full_recompute(arch, block_size, prefetch, make_gpt2, make_llama):
    ck = make_gpt2() if arch == "gpt2" else make_llama()
    model = load_model(ck.path)
    configure_cache_optimization(
        model, CacheConfig(block_size=block_size, enable_prefetch=prefetch)
    )
    ids = (IDS * 3)[:29]
    full = model.forward(ids)
    np.testing.assert_allclose(_cached_logits(model, ids, 6), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_reference_kernels_agree_with_vectorised(arch, make_gpt2, make_llama):
    ck = make_gpt2() if arch == "gpt2" else make_llama()
    model = load_model(ck.path)
    fast = model.forward(IDS)
    fast_cached = _cached_logits(model, IDS, 4)
    enable_simd(model, SimdOp.ALL, on=False)
    assert model.simd == SimdOp(0)
    np.testing.assert_allclose(model.forward(IDS), fast, atol=1e-5)
    np.testing.assert_allclose(_cached_logits(model, IDS, 4), fast_cached, atol=1e-5)
    enable_simd(model, SimdOp.ATTENTION, on=True)
    assert model.simd == SimdOp.ATTENTION
