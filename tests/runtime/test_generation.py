"""Generation: greedy reproducibility, sampling rules, stop conditions, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.runtime import (
    CacheConfig,
    GenerationConfig,
    configure_cache_optimization,
    load_model,
)
from hyperion_otel.runtime.kv_cache import PagedKVCache
from hyperion_otel.runtime.sampling import SamplingParams, sample

GREEDY = GenerationConfig(temperature=0.0, max_new_tokens=12)


def _greedy_by_recompute(model, ids, n):
    ids = list(ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(model.forward(ids)[-1]))
        out.append(nxt)
        ids.append(nxt)
    return out


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_greedy_matches_argmax_of_full_recompute_and_reproduces(arch, make_gpt2, make_llama):
    ck = make_gpt2(eos_token_id=None) if arch == "gpt2" else make_llama(eos_token_id=None)
    model = load_model(ck.path)
    prompt = [5, 9, 11, 3]
    g1 = model.generate(prompt, GREEDY)
    assert g1.token_ids == _greedy_by_recompute(model, prompt, 12)
    assert g1.finish_reason == "length"
    assert g1.usage.input_tokens == 4 and g1.usage.output_tokens == 12
    assert model.generate(prompt, GREEDY).token_ids == g1.token_ids
    t = g1.timings
    assert len(t.token_latencies_s) == 12 and t.ttft_s == t.token_latencies_s[0]
    assert 0 < t.ttft_s <= t.total_s and t.tokens_per_s > 0


def test_top_k_one_equals_greedy_and_seed_reproduces(byte_llama):
    model = load_model(byte_llama.path)
    greedy = model.generate("hello", GREEDY)
    k1 = model.generate(
        "hello", GenerationConfig(temperature=1.3, top_k=1, max_new_tokens=12, seed=7)
    )
    assert k1.token_ids == greedy.token_ids
    cfg = GenerationConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=123)
    a, b = model.generate("hello", cfg), model.generate("hello", cfg)
    assert a.text == b.text and a.token_ids == b.token_ids
    c = model.generate(
        "hello", GenerationConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=124)
    )
    assert c.token_ids != a.token_ids


def _support(logits, params, draws=400):
    rng = np.random.default_rng(0)
    return {sample(logits, params, rng)[0] for _ in range(draws)}


def test_top_p_keeps_smallest_set_reaching_p():
    probs = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
    logits = np.log(probs).astype(np.float32)
    # sorted: 0.4 (1), 0.3 (3), 0.15 (4), 0.1 (2), 0.05 (0); cumulative .4 .7 .85 .95 1
    assert _support(logits, SamplingParams(1.0, 0, 0.4)) == {1}
    assert _support(logits, SamplingParams(1.0, 0, 0.41)) == {1, 3}
    assert _support(logits, SamplingParams(1.0, 0, 0.7)) == {1, 3}
    assert _support(logits, SamplingParams(1.0, 0, 0.8)) == {1, 3, 4}
    assert _support(logits, SamplingParams(1.0, 0, 1.0)) == {0, 1, 2, 3, 4}
    # top-k first, then top-p over the renormalised top-k mass (.4/.7 = .57 < .6)
    assert _support(logits, SamplingParams(1.0, 2, 0.6)) == {1, 3}
    assert _support(logits, SamplingParams(1.0, 2, 0.5)) == {1}


def test_top_p_on_large_vocab_matches_full_sort():
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal(50000) * 0.5).astype(np.float32)  # flat: nucleus is large
    z = logits.astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    n = int(np.searchsorted(np.cumsum(p[order]), 0.9)) + 1
    allowed = set(order[:n].tolist())
    got = _support(logits, SamplingParams(1.0, 0, 0.9), draws=300)
    assert got <= allowed
    assert len(allowed) > 4096  # exercised the full-sort fallback


def test_sampling_frequencies_follow_temperature():
    logits = np.log(np.array([0.5, 0.3, 0.2])).astype(np.float32)
    rng = np.random.default_rng(1)
    counts = np.bincount(
        [sample(logits, SamplingParams(1.0, 0, 1.0), rng)[0] for _ in range(4000)], minlength=3
    )
    np.testing.assert_allclose(counts / 4000, [0.5, 0.3, 0.2], atol=0.03)


def test_eos_stops_and_is_not_in_text(make_llama):
    ck = make_llama(
        "eos", vocab_size=257, bos_token_id=256, eos_token_id=256, hyperion_tokenizer="byte"
    )
    model = load_model(ck.path)
    prompt = [256, 104, 105]
    first = model.generate(prompt, GenerationConfig(temperature=0.0, max_new_tokens=3))
    # Make the first greedy token the EOS: the generation must stop right there.
    gen = model.generate(
        prompt,
        GenerationConfig(temperature=0.0, max_new_tokens=10, stop_token_ids=(first.token_ids[0],)),
    )
    assert gen.finish_reason == "stop"
    assert gen.token_ids == [first.token_ids[0]]
    assert gen.text == ""


def test_stop_string_cuts_text_and_stream_never_shows_it(byte_llama):
    model = load_model(byte_llama.path)
    base = model.generate("abc", GenerationConfig(temperature=0.0, max_new_tokens=30))
    text = base.text
    assert len(text) >= 6, text
    stop = text[3:5]
    gen = model.generate(
        "abc", GenerationConfig(temperature=0.0, max_new_tokens=30, stop=(stop, "\x00never"))
    )
    assert gen.finish_reason == "stop"
    assert gen.text == text[: text.find(stop)]
    streamed = model.stream("abc", GenerationConfig(temperature=0.0, max_new_tokens=30, stop=stop))
    pieces = [tok.text for tok in streamed]
    assert "".join(pieces) == gen.text
    assert streamed.generation is not None and streamed.generation.text == gen.text


def test_stream_yields_tokens_then_generation(byte_llama):
    model = load_model(byte_llama.path)
    cfg = GenerationConfig(temperature=0.7, max_new_tokens=15, seed=3)
    s = model.stream("hi", cfg)
    toks = list(s)
    g = s.generation
    assert g is not None
    assert [t.token_id for t in toks] == g.token_ids == model.generate("hi", cfg).token_ids
    assert "".join(t.text for t in toks) == g.text
    assert [t.finish_reason for t in toks][:-1] == [None] * (len(toks) - 1)
    assert toks[-1].finish_reason == g.finish_reason


def test_context_length_ends_generation(make_gpt2):
    ck = make_gpt2(eos_token_id=None, n_positions=12)
    model = load_model(ck.path)
    gen = model.generate(list(range(10)), GenerationConfig(temperature=0.0, max_new_tokens=50))
    # positions 10 and 11 are free: one token from prefill, two more decoded, then out of room
    assert gen.finish_reason == "length"
    assert len(gen.token_ids) == 3
    full = model.generate(list(range(12)), GenerationConfig(temperature=0.0, max_new_tokens=5))
    assert len(full.token_ids) == 1


class CountingAllocator:
    def __init__(self):
        self.live = {}
        self.shapes = []

    def allocate(self, shape, dtype=np.float32):
        arr = np.empty(shape, dtype)
        self.live[id(arr)] = arr
        self.shapes.append(arr.shape)
        return arr

    def free(self, array):
        del self.live[id(array)]


@pytest.mark.parametrize("prefetch", [False, True])
def test_kv_blocks_and_activations_come_from_allocator_and_are_freed(gpt2, prefetch):
    model = load_model(gpt2.path)
    configure_cache_optimization(model, CacheConfig(block_size=4, enable_prefetch=prefetch))
    alloc = CountingAllocator()
    previous = _allocator.set_allocator(alloc)
    try:
        gen = model.generate([1, 2, 3, 4, 5], GenerationConfig(temperature=0.0, max_new_tokens=6))
        stream = model.stream([1, 2, 3], GenerationConfig(temperature=0.0, max_new_tokens=20))
        next(stream)
        next(stream)
        stream.close()
    finally:
        _allocator.set_allocator(previous)
    assert alloc.live == {}
    block_shape = (2, 2, 4, 4, 4)  # [layers, K|V, kv heads, block, head_dim]
    blocks = [s for s in alloc.shapes if s == block_shape]
    # 5 prompt + 5 decoded positions = 10 -> 3 blocks of 4 (prefetch adds block 3 at the 8-boundary)
    assert gen.cache is not None and gen.cache.blocks_used == 3
    assert len(blocks) >= 4
    assert any(s == (5, 3 * 16) for s in alloc.shapes)  # prefill QKV activations


def test_prefetch_allocates_next_block_before_it_is_needed():
    plain = PagedKVCache(2, 4, 4, 40, CacheConfig(block_size=4, enable_prefetch=False))
    eager = PagedKVCache(2, 4, 4, 40, CacheConfig(block_size=4, enable_prefetch=True))
    for cache in (plain, eager):
        cache.reserve(3)
        cache.advance(3)
    assert len(plain.blocks) == len(eager.blocks) == 1
    plain.reserve(1)
    eager.reserve(1)  # position 3 fills block 0: the next block is allocated now
    assert (len(plain.blocks), len(eager.blocks)) == (1, 2)
    for cache in (plain, eager):
        cache.free()
        assert cache.blocks == []
    with pytest.raises(InvalidInputError, match="context length 40"):
        plain.reserve(41)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"seed": -3}, "seed"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_invalid_generation_config_names_field_and_value(kwargs, field):
    with pytest.raises(InvalidInputError) as info:
        GenerationConfig(**kwargs)
    assert info.value.details["field"] == f"GenerationConfig.{field}"
    assert field in info.value.message and repr(next(iter(kwargs.values()))) in info.value.message


def test_invalid_prompts(gpt2, byte_llama):
    model = load_model(gpt2.path)
    with pytest.raises(InvalidInputError, match="at most 40 tokens for a context of 40") as info:
        model.generate(list(range(41)), GREEDY)
    assert info.value.details["field"] == "prompt"
    with pytest.raises(InvalidInputError, match=r"expected a token id in \[0, \d+\), got 99999"):
        model.generate([1, 99999], GREEDY)
    with pytest.raises(InvalidInputError, match="no tokenizer"):
        model.generate("text needs a tokenizer", GREEDY)
    with pytest.raises(InvalidInputError, match="at least one token id"):
        model.generate([], GREEDY)
    byte_model = load_model(byte_llama.path)
    with pytest.raises(InvalidInputError, match="for a context of"):
        byte_model.generate("x" * 100, GREEDY)
    # An empty text is refused even when the tokenizer would add a BOS; a BOS-only start
    # is asked for explicitly, as token ids.
    with pytest.raises(InvalidInputError, match="non-empty string or token ids, got an empty"):
        byte_model.generate("", GREEDY)
    bos = byte_model.tokenizer.bos_token_id
    assert byte_model.generate([bos], GREEDY).usage.input_tokens == 1


def test_invalid_cache_and_simd_arguments(gpt2):
    from hyperion_otel.runtime import SimdOp, enable_simd

    model = load_model(gpt2.path)
    for bad in (0, -4, 1.5, True):
        with pytest.raises(InvalidInputError, match="block_size") as info:
            CacheConfig(block_size=bad)
        assert info.value.details["field"] == "block_size"
    with pytest.raises(InvalidInputError, match="CacheConfig"):
        configure_cache_optimization(model, {"block_size": 16})
    with pytest.raises(InvalidInputError, match="SimdOp"):
        enable_simd(model, "ALL", on=True)
    enable_simd(model, SimdOp.MATMUL | SimdOp.ACTIVATION, on=False)
    assert model.simd == SimdOp.ATTENTION
