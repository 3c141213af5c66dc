"""The generate / verify / info subcommands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_generate_prints_text_and_summary(byte_llama, capsys):
    rc = main(
        [
            "generate",
            "--model",
            str(byte_llama.path),
            "--prompt",
            "hi",
            "--max-new-tokens",
            "5",
            "--temperature",
            "0",
            "--block-size",
            "4",
            "--prefetch",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert out.startswith("hi")
    for field in ("tok/s", "TTFT", "TPOT", "KV blocks 2 x 4 tokens", "peak RSS"):
        assert field in err, err


def test_generate_stream_and_debug(byte_llama, capsys):
    rc = main(
        [
            "generate",
            "--model",
            str(byte_llama.path),
            "--prompt",
            "ab",
            "--max-new-tokens",
            "4",
            "--seed",
            "1",
            "--stream",
            "--debug",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0 and out.startswith("ab")
    assert err.count("generation step") == 4


def test_bad_input_gives_clear_error_and_exit_code(byte_llama, tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path / "missing"), "--prompt", "x"]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["generate", "--model", str(byte_llama.path), "--prompt", "x", "--top-p", "2"]) == 1
    assert (
        "invalid GenerationConfig.top_p: expected a number in (0, 1] (1 disables top-p), got 2.0"
        in capsys.readouterr().err
    )


def test_an_empty_or_missing_prompt_is_refused(byte_llama, capsys):
    rc = main(["generate", "--model", str(byte_llama.path), "--prompt", ""])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert "invalid --prompt: expected a non-empty text, got an empty string" in err
    with pytest.raises(SystemExit) as info:
        main(["generate", "--model", str(byte_llama.path)])
    assert info.value.code == 2
    assert "one of the arguments --prompt --bos-only is required" in capsys.readouterr().err


def test_bos_only_is_an_explicit_start(byte_llama, capsys):
    args = ["generate", "--model", str(byte_llama.path), "--max-new-tokens", "3"]
    assert main([*args, "--bos-only", "--temperature", "0"]) == 0
    err = capsys.readouterr().err
    assert "from 1 prompt tokens" in err, err


def test_verify_and_info(gpt2, tmp_path, capsys):
    assert main(["verify", str(gpt2.path)]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    (gpt2.path / "model.safetensors").write_bytes(b"\x00" * 4)
    assert main(["verify", str(gpt2.path)]) == 1
    assert "truncated safetensors file" in capsys.readouterr().out
    assert main(["verify", "--json", str(tmp_path / "nope")]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_verify_lists_ignored_metadata_as_warnings(make_gpt2, capsys):
    ck = make_gpt2(eos_token_id=50256)
    assert main(["verify", str(ck.path)]) == 0
    ok, warning = capsys.readouterr().out.splitlines()
    assert ok.startswith("OK:")
    assert warning.startswith("  warning: ") and "'eos_token_id' = 50256" in warning
    assert main(["verify", "--json", str(ck.path)]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == [warning[len("  warning: ") :]]


def test_python_m_hyperion_otel_info(llama):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "hyperion_otel", "info", "--json", str(llama.path)],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["architecture"] == "LlamaForCausalLM" and info["kv_heads"] == 2


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "generate" in capsys.readouterr().err
