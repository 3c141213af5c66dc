"""``hyperion-otel profile``: generate under the profiler, save the profile, print where the
time went (hotspots) and what limits speed (bottleneck analysis of the recorded ops).

The profile goes to ``-o`` (default ``<HYPERION_OUTPUT_DIR>/profile.json``, where
``hyperion-otel report`` finds it); the format follows the name: ``*.speedscope.json``
speedscope, ``*.summary.json`` the JSON summary, anything else Chrome Trace Event JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

__all__ = ["register_profile"]

_FEW_SAMPLES = 20


def register_profile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "profile",
        help="generate under the profiler; save the profile, print hotspots and bottlenecks",
        description=(
            "Generate text under the sampling profiler with op tracing, save the profile "
            "and print the hotspots and the bottleneck summary."
        ),
    )
    p.add_argument(
        "--model",
        default="builtin:tiny",
        help="checkpoint directory, .gguf file or builtin:tiny (default)",
    )
    p.add_argument("--prompt", default="", help="prompt text")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="profile file (default <HYPERION_OUTPUT_DIR>/profile.json; "
        "*.speedscope.json for speedscope, *.summary.json for a summary)",
    )
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--temperature", type=float, default=0.0, help="default 0: greedy, repeatable")
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--interval-ms", type=float, default=1.0, help="sampling interval (default 1 ms)"
    )
    p.add_argument(
        "--trace-calls",
        action="store_true",
        help="also trace every Python call (exact call counts; costs time on every call)",
    )
    p.add_argument("--top", type=int, default=10, help="hotspots to print (default 10)")
    p.add_argument("--json", action="store_true", help="print hotspots and bottlenecks as JSON")
    p.set_defaults(func=_profile)


def _output_path(args: argparse.Namespace) -> str:
    if args.output:
        return str(args.output)
    from hyperion_otel.sdk import get_telemetry
    from hyperion_otel.settings import Settings

    tel = get_telemetry()
    settings = tel.settings if tel is not None else Settings.from_env()
    return os.path.join(settings.output_dir, "profile.json")


def _profile(args: argparse.Namespace) -> int:
    from hyperion_otel.cli.progress import generate_with_progress, load_model_with_progress
    from hyperion_otel.cli.runtime_cmds import run_summary
    from hyperion_otel.profiler import ProfilerConfig, analyze_bottlenecks, profiling
    from hyperion_otel.runtime import GenerationConfig

    config = GenerationConfig(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    prof_config = ProfilerConfig(
        track_functions=True,
        track_memory=True,
        track_cache=True,
        sample_interval_ms=args.interval_ms,
        trace_calls=args.trace_calls,
    )
    output = _output_path(args)
    model = load_model_with_progress(args.model)
    with profiling(prof_config) as handle:
        gen = generate_with_progress(model, args.prompt, config)
    profile = handle.profile
    assert profile is not None  # set when the block exits
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    saved = profile.save(output)
    hotspots = profile.hotspots(args.top)
    bottlenecks = analyze_bottlenecks(model, profile=profile)
    if args.json:
        data: dict[str, Any] = {
            "profile": saved,
            "generation": {
                "output_tokens": gen.usage.output_tokens,
                "ttft_s": gen.timings.ttft_s,
                "total_s": gen.timings.total_s,
                "tokens_per_s": gen.timings.tokens_per_s,
            },
            "hotspots": hotspots.to_dict(),
            "bottlenecks": dataclasses.asdict(bottlenecks),
        }
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(run_summary(gen), file=sys.stderr)
    print(
        f"Profile saved to {saved} ({len(profile.samples)} samples, {len(profile.ops)} ops); "
        "open it in https://ui.perfetto.dev or speedscope"
    )
    if len(profile.samples) < _FEW_SAMPLES:
        print(
            f"note: only {len(profile.samples)} stack samples in {profile.duration_s * 1e3:.0f} ms; "
            "for steadier hotspots raise --max-new-tokens or lower --interval-ms",
            file=sys.stderr,
        )
    print()
    print(hotspots)
    print()
    print(bottlenecks.to_table())
    return 0
