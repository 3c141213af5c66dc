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
    from hyperion_otel.runtime.model import Model

__all__ = [
    "prompt_of",
    "run_generate",
    "run_info",
    "run_verify",
    "run_summary",
]


def prompt_of(args: argparse.Namespace, model: Model) -> str | list[int]:
    """The prompt that ``--prompt``/``--bos-only`` asked for; an empty text is refused."""
    from hyperion_otel.errors import InvalidInputError

    if args.bos_only:
        bos = model.tokenizer.bos_token_id if model.tokenizer is not None else None
        if bos is None:
            raise InvalidInputError(
                f"--bos-only: model {model.name!r} has no BOS token; pass --prompt instead",
                field="bos_only",
            )
        return [bos]
    if not args.prompt:
        raise InvalidInputError(
            "invalid --prompt: expected a non-empty text, got an empty string "
            "(--bos-only starts from the BOS token alone)",
            field="prompt",
        )
    prompt: str = args.prompt
    return prompt


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


def run_generate(args: argparse.Namespace) -> int:
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
    from hyperion_otel.cli.progress import generate_with_progress, load_model_with_progress

    model = load_model_with_progress(args.model)
    prompt = prompt_of(args, model)
    text = prompt if isinstance(prompt, str) else ""
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
            stream = model.stream(prompt, config)
            sys.stdout.write(text)
            for tok in stream:
                sys.stdout.write(tok.text)
                sys.stdout.flush()
            gen = stream.generation
            assert gen is not None
        else:
            gen = generate_with_progress(model, prompt, config)
            sys.stdout.write(text + gen.text)
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


def run_verify(args: argparse.Namespace) -> int:
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
    if not args.json:
        for warning in report.warnings:
            print(f"  warning: {warning}")
    return 0 if report.ok else 1


def run_info(args: argparse.Namespace) -> int:
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
