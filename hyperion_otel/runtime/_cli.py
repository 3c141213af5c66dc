"""``hyperion-otel generate | verify | info``: the runtime's subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperion_otel.runtime.generate import Generation

__all__ = ["register_generate", "register_info", "register_verify", "run_summary"]


def register_generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate",
        help="generate text with a model",
        description="Generate text and print a run summary.",
    )
    p.add_argument(
        "--model",
        default="builtin:tiny",
        help="checkpoint directory, .gguf file or builtin:tiny (default)",
    )
    p.add_argument("--prompt", default="", help="prompt text")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    p.add_argument("--block-size", type=int, default=None, help="KV cache block size in tokens")
    p.add_argument(
        "--prefetch", action="store_true", help="allocate the next KV block ahead of need"
    )
    p.add_argument(
        "--debug", action="store_true", help="log the top candidates of every step to stderr"
    )
    p.set_defaults(func=_generate)


def register_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify", help="check a checkpoint for problems", description="Verify a model checkpoint."
    )
    p.add_argument("path", help="checkpoint directory, .gguf file or builtin:tiny")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_verify)


def register_info(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "info",
        help="describe a checkpoint",
        description="Show a checkpoint's format and architecture.",
    )
    p.add_argument("path", help="checkpoint directory, .gguf file or builtin:tiny")
    p.add_argument("--json", action="store_true", help="print the info as JSON")
    p.set_defaults(func=_info)


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def run_summary(gen: Generation) -> str:
    """One-paragraph summary of a generation: speed, latency, KV cache, memory."""
    t = gen.timings
    tpot = t.time_per_output_token_s
    decode_tps = 1.0 / tpot if tpot else None
    parts = [
        f"{gen.usage.output_tokens} tokens ({gen.finish_reason}) from {gen.usage.input_tokens} prompt tokens in {t.total_s:.2f} s",
        f"{t.tokens_per_s:.1f} tok/s" + (f" ({decode_tps:.1f} tok/s decode)" if decode_tps else ""),
        f"TTFT {1000 * t.ttft_s:.1f} ms",
        f"TPOT {1000 * tpot:.1f} ms" if tpot else "TPOT n/a",
    ]
    if gen.cache is not None:
        c = gen.cache
        parts.append(
            f"KV blocks {c.blocks_used} x {c.block_size} tokens ({c.bytes / 2**20:.1f} MiB)"
        )
    rss = _peak_rss_mb()
    if rss is not None:
        parts.append(f"peak RSS {rss:.0f} MiB")
    return " | ".join(parts)


def _generate(args: argparse.Namespace) -> int:
    from hyperion_otel.runtime import (
        CacheConfig,
        GenerationConfig,
        configure_cache_optimization,
        enable_generation_debug,
    )

    config = GenerationConfig(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        stop=tuple(args.stop),
    )
    from hyperion_otel import sdk
    from hyperion_otel._cli.progress import generate_with_progress, load_model_with_progress

    model = load_model_with_progress(args.model)
    if args.block_size is not None or args.prefetch:
        base = model.cache_config
        configure_cache_optimization(
            model,
            CacheConfig(args.block_size or base.block_size, args.prefetch or base.enable_prefetch),
        )
    handler: logging.Handler | None = None
    logger = logging.getLogger("hyperion.model")
    old_level = logger.level
    if args.debug:
        telemetry = sdk.get_telemetry()
        if telemetry is None or "console" not in telemetry.settings.log_outputs:
            # configure() already prints the hyperion loggers to the console otherwise
            handler = logging.StreamHandler(sys.stderr)
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        enable_generation_debug(True)
    try:
        if args.stream:
            stream = model.stream(args.prompt, config)
            sys.stdout.write(args.prompt)
            for tok in stream:
                sys.stdout.write(tok.text)
                sys.stdout.flush()
            gen = stream.generation
            assert gen is not None
        else:
            gen = generate_with_progress(model, args.prompt, config)
            sys.stdout.write(args.prompt + gen.text)
        sys.stdout.write("\n")
        sys.stdout.flush()
    finally:
        if args.debug:
            enable_generation_debug(False)
            logger.setLevel(old_level)
        if handler is not None:
            logger.removeHandler(handler)
    print(run_summary(gen), file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from hyperion_otel.runtime import verify_model

    report = verify_model(args.path)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    elif report.ok:
        print(
            f"OK: {report.path} ({report.format}, {report.tensors_checked} tensors, "
            f"{report.values_checked} values checked{', sampled' if report.sampled else ''})"
        )
    else:
        print(f"FAILED: {report.path}: {len(report.problems)} problem(s)")
        for problem in report.problems:
            print(f"  - {problem}")
    return 0 if report.ok else 1


def _info(args: argparse.Namespace) -> int:
    from hyperion_otel.runtime import get_model_info

    info = get_model_info(args.path)
    data: dict[str, Any] = asdict(info)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = (
            f"{value:,}"
            if isinstance(value, int)
            and key in ("parameters", "size_bytes", "loaded_bytes", "upcast_bytes")
            else value
        )
        print(f"{key.ljust(width)}  {shown}")
    return 0
