"""llama.cpp's own tokenizer test set: ``models/ggml-vocab-*.gguf`` with ``.inp``/``.out``
cases, and ``src/llama-vocab.cpp`` (its pre-tokenizer table), from the llama-cpp-python
source distribution.

Fetched once with ``pip download`` and cached (``HYPERION_TEST_CACHE`` or
``~/.cache/hyperion-otel-tests``); only the vocabulary files and the vocabulary source are
kept. ``python tests/runtime/llama_vocab.py`` fetches them and exits non-zero when it
cannot (``.ci/run`` calls it, so CI fails loudly instead of skipping).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"
_ROOT = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
_KEEP = re.compile(r"^(models/ggml-vocab-[^/]+|src/llama-vocab\.cpp)$")
SEP = "\n__ggml_vocab_test__\n"


def cache_dir() -> Path:
    base = os.environ.get("HYPERION_TEST_CACHE") or Path.home() / ".cache" / "hyperion-otel-tests"
    return Path(base) / f"llama-cpp-vocab-{VERSION}"


def fetch() -> Path:
    """The cached test set, downloaded and extracted on first use; raises on failure."""
    dest = cache_dir()
    if (dest / "complete").is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={VERSION}",
                "-d",
                tmp,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        staging = Path(tmp) / "out"
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                rel = member.name[len(_ROOT) :] if member.name.startswith(_ROOT) else ""
                if member.isfile() and _KEEP.match(rel):
                    target = staging / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    target.write_bytes(src.read())
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(staging), dest)
    (dest / "complete").write_text(VERSION)
    return dest


def read_cases(vocab: Path) -> dict[str, list[int]]:
    """The cases of one vocabulary, read as llama.cpp's test-tokenizer-0 reads them (a map:
    a repeated input keeps its last expected ids)."""
    raw = Path(f"{vocab}.inp").read_bytes().decode("utf-8")
    outs = Path(f"{vocab}.out").read_bytes().decode("utf-8").split("\n")
    if outs and outs[-1] == "":
        outs.pop()
    inputs: list[str] = []
    pos = 0
    while pos < len(raw):
        nxt = raw.find(SEP, pos)
        if nxt < 0:
            inputs.append(raw[pos:])
            break
        inputs.append(raw[pos:nxt])
        pos = nxt + len(SEP)
    assert len(inputs) == len(outs), f"{vocab}: {len(inputs)} inputs, {len(outs)} outputs"
    return {text: [int(t) for t in out.split()] for text, out in zip(inputs, outs, strict=True)}


def _c_string(body: str) -> str:
    escapes = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes[m.group(1)], body)


def cpp_splits(source: str) -> dict[str, tuple[str, ...]]:
    """kind -> regex_exprs, from llm_tokenizer_bpe's constructor in llama-vocab.cpp."""
    start = source.index("llm_tokenizer_bpe(const llama_vocab & vocab) {")
    body = source[start : source.index("std::vector<std::string> regex_exprs;", start)]
    table: dict[str, tuple[str, ...]] = {}
    pending: list[str] = []
    for block in re.split(r"\n(?=\s*(?:case |default:))", body):
        pending += [c.lower() for c in re.findall(r"case LLAMA_VOCAB_PRE_TYPE_(\w+):", block)]
        if re.match(r"\s*default:", block):
            pending.append("default")
        m = re.search(r"regex_exprs = \{(.*?)\};", block, re.S)
        if not m:
            continue
        exprs = tuple(
            _c_string(lit.group(1))
            for line in m.group(1).split("\n")
            if not line.strip().startswith("//")
            for lit in [re.match(r'\s*"((?:[^"\\]|\\.)*)"', line)]
            if lit
        )
        table.update(dict.fromkeys(pending, exprs))
        pending = []
    return table


def cpp_names(source: str) -> dict[str, tuple[str, bool, bool, bool]]:
    """tokenizer.ggml.pre -> (kind, ignore_merges, add_bos, drops BOS) from llama-vocab.cpp."""
    start = source.index('} else if (tokenizer_pre == "default") {')
    body = source[start : source.index("unknown pre-tokenizer type", start)]
    out = {}
    for chunk in body.split("} else if (")[1:]:
        m = re.search(r"pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", chunk)
        assert m is not None, chunk
        flags = (
            "ignore_merges = true" in chunk,
            "add_bos = true" in chunk,
            "special_bos_id = LLAMA_TOKEN_NULL" in chunk,
        )
        for name in re.findall(r'tokenizer_pre == "([^"]+)"', chunk):
            out[name] = (m.group(1).lower(), *flags)
    return out


if __name__ == "__main__":
    print(fetch())
