"""llama.cpp's BPE pre-tokenizers, looked up by the ``tokenizer.ggml.pre`` name in a GGUF file.

Copied from llama.cpp's vocabulary code (``src/llama-vocab.cpp``, as vendored by
llama-cpp-python 0.3.36): each name maps to a pre-tokenizer kind whose regexes split the
text one after another (each regex re-splits the pieces of the one before, and the text
between two matches stays a piece of its own), plus the flags llama.cpp sets per name.
llama.cpp runs three splits in hand-written code (``\\p{AFMoE_digits}``, Kimi-K2's
``\\p{Han}+`` trigger and, by reuse, Tiny Aya's digit groups); they appear here as the
regexes that code implements.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRE_TOKENIZERS", "PreTokenizer", "UNSUPPORTED_KINDS", "pre_tokenizer"]


@dataclass(frozen=True)
class PreTokenizer:
    name: str  # the tokenizer.ggml.pre value
    kind: str  # llama.cpp's LLAMA_VOCAB_PRE_TYPE_*, lower case
    splits: tuple[str, ...]
    # A piece that is itself a vocabulary entry becomes that token without merging.
    ignore_merges: bool = False
    add_bos: bool = False  # llama.cpp's default when tokenizer.ggml.add_bos_token is absent
    has_bos: bool = True  # False: llama.cpp drops the BOS id for this vocabulary


_CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    _CONTRACTIONS
    + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    _CONTRACTIONS
    + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DEEPSEEK3_WORDS = r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+"""
_CJK_KANA = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
_CJK_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
# Groups of three digits counted from the right, the leading group holding the rest
# (llama.cpp's unicode_regex_split_custom_afmoe).
_DIGITS_BY_THREE = r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))"
_GPT4O_LOOKAHEAD = (
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
    + _CONTRACTIONS
    + r"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
    + _CONTRACTIONS
    + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CASED_WORDS = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    + _CONTRACTIONS
    + r"?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    + _CONTRACTIONS
)
_DEEPSEEK3 = (
    r"\p{N}{1,3}",
    _CJK_KANA,
    _DEEPSEEK3_WORDS + r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)
_STARCODER = (r"\p{N}", _GPT2)
_BLOOM = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"

# kind -> the regexes llama.cpp applies, in order.
_SPLITS: dict[str, tuple[str, ...]] = {
    "default": (
        r"[\p{P}\$\+<=>\^~\|]+",
        _GPT2,
        r"\p{N}+",
        r"[0-9][0-9][0-9]",
    ),
    "llama3": (_LLAMA3,),
    "dbrx": (_LLAMA3,),
    "smaug": (_LLAMA3,),
    "chatglm4": (_LLAMA3,),
    "jais2": (
        _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)"
        r"|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}",
    ),
    "deepseek_llm": (
        r"[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        r"\s+$",
        _CJK_HANGUL,
        r"\p{N}+",
    ),
    "deepseek3_llm": _DEEPSEEK3,
    "hunyuan_dense": _DEEPSEEK3,
    "joyai_llm": _DEEPSEEK3,
    "hy_v4": _DEEPSEEK3,
    "spark2_5": (
        r"\p{N}{1,3}",
        _CJK_KANA,
        _DEEPSEEK3_WORDS + r"|[\r\n]|\s+(?!\S)|\s+",
        r"\p{N}",
    ),
    "youtu": (
        "[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|"
        + _CJK_KANA,
        _CASED_WORDS + r"?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "deepseek_coder": (
        r"[\r\n]",
        r"\s?\p{L}+",
        r"\s?\p{P}+",
        _CJK_HANGUL,
        r"\p{N}",
    ),
    "falcon": (
        r"[\p{P}\$\+<=>\^~\|`]+",
        _GPT2,
        r"[0-9][0-9][0-9]",
    ),
    "starcoder": _STARCODER,
    "refact": _STARCODER,
    "command_r": _STARCODER,
    "smollm": _STARCODER,
    "codeshell": _STARCODER,
    "exaone": _STARCODER,
    "minerva": _STARCODER,
    "mellum2": _STARCODER,
    "gpt2": (_GPT2,),
    "mpt": (_GPT2,),
    "olmo": (_GPT2,),
    "jais": (_GPT2,),
    "trillion": (_GPT2,),
    "granite_docling": (_GPT2,),
    "stablelm2": (_QWEN2,),
    "qwen2": (_QWEN2,),
    "hunyuan": (_QWEN2,),
    "solar_open": (_QWEN2,),
    "grok_2": (_QWEN2,),
    "qwen35": (
        _CONTRACTIONS
        + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s+(?!\S)|\s+",
    ),
    "poro": (_BLOOM,),
    "bloom": (_BLOOM,),
    "gpt3_finnish": (_BLOOM,),
    "viking": (_BLOOM, r"\p{N}"),
    "tekken": (
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
        r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
        r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "chameleon": (
        r"<sentinel:[0-9]+>",
        r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
        r"([\t\n]|    |  )",
        r"\p{N}",
        r"[\p{P}!-/:-@\[-`{-~]",
        _GPT2,
    ),
    "gpt4o": (_GPT4O_LOOKAHEAD,),
    "minimax_m2": (_GPT4O_LOOKAHEAD,),
    "granite_emb_multi": (_GPT4O_LOOKAHEAD.replace(r"(?=[\p{L}])", r"(?=[\p{L}\p{M}])"),),
    "tiny_aya": (
        _DIGITS_BY_THREE,
        _CASED_WORDS + r"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    # The tokenizer's own pattern (tokenization_kimi.py), which llama.cpp hand-codes.
    "kimi_k2": (
        r"[\p{Han}]+"
        r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "superbpe": (r"\p{N}+", r"(?=(\d{3})+(?!\d))"),
    "bailingmoe": (
        r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
    ),
    "seed_coder": (
        _CONTRACTIONS
        + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "ufakzeka": (
        r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "afmoe": (
        _DIGITS_BY_THREE,
        "[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af\u1100-\u11ff]+",
        _DEEPSEEK3_WORDS + r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
    "laguna": (r"[^\n]+|[\n]+", _QWEN2),
    "exaone_moe": (
        _CONTRACTIONS
        + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?"
        r"|\s*[\r\n]|\s+(?!\S)|\s+",
    ),
    "minicpm5": (
        r"\p{N}{1,3}",
        _CONTRACTIONS
        + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
}

# Kinds llama.cpp tokenizes from raw UTF-8 with "▁" for spaces (or by whitespace only)
# instead of byte-level BPE; not built here.
UNSUPPORTED_KINDS = ("gemma4", "sarvam_moe", "whitespace")

_IGNORE_MERGES, _ADD_BOS, _NO_BOS = 1, 2, 4

# tokenizer.ggml.pre -> (kind, flags), in llama.cpp's order.
_NAMES: dict[str, tuple[str, int]] = {
    "default": ("default", 0),
    "minicpm5": ("minicpm5", _IGNORE_MERGES),
    "llama3": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "llama-v3": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "llama-bpe": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "falcon3": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "falcon-h1": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "pixtral": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "midm-2.0": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "lfm2": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "jina-v5-nano": ("llama3", _IGNORE_MERGES | _ADD_BOS),
    "deepseek-llm": ("deepseek_llm", 0),
    "deepseek-coder": ("deepseek_coder", 0),
    "deepseek-v3": ("deepseek3_llm", 0),
    "spark2_5": ("spark2_5", 0),
    "youtu": ("youtu", _IGNORE_MERGES),
    "falcon": ("falcon", 0),
    "mpt": ("mpt", 0),
    "starcoder": ("starcoder", 0),
    "gpt-2": ("gpt2", 0),
    "phi-2": ("gpt2", 0),
    "jina-es": ("gpt2", 0),
    "jina-de": ("gpt2", 0),
    "gigachat": ("gpt2", 0),
    "jina-v2-es": ("gpt2", 0),
    "jina-v2-de": ("gpt2", 0),
    "a.x-4.0": ("gpt2", 0),
    "mellum": ("gpt2", 0),
    "modern-bert": ("gpt2", 0),
    "jais-2": ("jais2", 0),
    "gemma4": ("gemma4", 0),
    "granite-embed-multi-311m": ("gemma4", 0),
    "sarvam-moe": ("sarvam_moe", 0),
    "jina-v1-en": ("gpt2", 0),
    "jina-v2-code": ("gpt2", 0),
    "roberta-bpe": ("gpt2", 0),
    "whitespace": ("whitespace", 0),
    "refact": ("refact", 0),
    "command-r": ("command_r", 0),
    "qwen2": ("qwen2", 0),
    "deepseek-r1-qwen": ("qwen2", 0),
    "kormo": ("qwen2", 0),
    "f2llmv2": ("qwen2", 0),
    "qwen35": ("qwen35", 0),
    "stablelm2": ("stablelm2", 0),
    "olmo": ("olmo", 0),
    "dbrx": ("dbrx", 0),
    "smaug-bpe": ("smaug", 0),
    "poro-chat": ("poro", 0),
    "chatglm-bpe": ("chatglm4", _NO_BOS),
    "glm4": ("chatglm4", _NO_BOS | _IGNORE_MERGES),
    "glm5": ("chatglm4", _NO_BOS | _IGNORE_MERGES),
    "viking": ("viking", 0),
    "jais": ("jais", 0),
    "tekken": ("tekken", _IGNORE_MERGES | _ADD_BOS),
    "smollm": ("smollm", 0),
    "codeshell": ("codeshell", 0),
    "bloom": ("bloom", 0),
    "gpt3-finnish": ("gpt3_finnish", 0),
    "exaone": ("exaone", 0),
    "exaone4": ("gpt2", 0),
    "exaone-moe": ("exaone_moe", 0),
    "chameleon": ("chameleon", _ADD_BOS),
    "minerva-7b": ("minerva", 0),
    "megrez": ("qwen2", 0),
    "gpt-4o": ("gpt4o", 0),
    "llama4": ("gpt4o", 0),
    "kanana2": ("gpt4o", 0),
    "talkie": ("gpt4o", 0),
    "granite-embed-multi-97m": ("granite_emb_multi", _IGNORE_MERGES),
    "tiny_aya": ("tiny_aya", 0),
    "cohere2moe": ("tiny_aya", 0),
    "superbpe": ("superbpe", 0),
    "trillion": ("trillion", 0),
    "granite-docling": ("granite_docling", 0),
    "bailingmoe": ("bailingmoe", 0),
    "bailingmoe2": ("bailingmoe", 0),
    "llada-moe": ("bailingmoe", 0),
    "seed-coder": ("seed_coder", 0),
    "hunyuan": ("hunyuan", 0),
    "hunyuan-dense": ("hunyuan_dense", 0),
    "hy_v4": ("hy_v4", 0),
    "joyai-llm": ("joyai_llm", 0),
    "kimi-k2": ("kimi_k2", 0),
    "ufakzeka": ("ufakzeka", 0),
    "grok-2": ("grok_2", 0),
    "afmoe": ("afmoe", 0),
    "laguna": ("laguna", 0),
    "minimax-m2": ("minimax_m2", 0),
    "solar-open": ("solar_open", 0),
    "mellum2": ("mellum2", 0),
}

PRE_TOKENIZERS: dict[str, PreTokenizer] = {
    name: PreTokenizer(
        name,
        kind,
        _SPLITS[kind],
        ignore_merges=bool(flags & _IGNORE_MERGES),
        add_bos=bool(flags & _ADD_BOS),
        has_bos=not flags & _NO_BOS,
    )
    for name, (kind, flags) in _NAMES.items()
    if kind not in UNSUPPORTED_KINDS
}


def pre_tokenizer(name: str) -> PreTokenizer | None:
    """The pre-tokenizer llama.cpp uses for ``name``; ``None`` when it is not built here."""
    return PRE_TOKENIZERS.get(name)
