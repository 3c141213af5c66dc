"""Every option of every subcommand, in one place, and nothing heavier than ``argparse``.

``--help`` and argument errors need only this module, so they answer without loading
numpy, the runtime or the OTel SDK. Each subcommand names the function that runs it as
``"module:function"`` (``run`` in the parsed arguments); ``main`` imports that module only
for the command given. Options shared by several commands are defined once here. Every
option has help text, and the formatter appends its default.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["build_parser"]

MODEL_HELP = "checkpoint directory, .gguf file or builtin:tiny (the model shipped in the package)"


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)``, except where there is nothing to say (flags, no default)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction)):
            return action.help
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: str,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description, formatter_class=_Formatter)
    p.set_defaults(run=run)
    return p


def _model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin:tiny", help=MODEL_HELP)


def _model_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help=MODEL_HELP)


def _json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _prompt(p: argparse.ArgumentParser) -> None:
    """``--prompt TEXT`` or ``--bos-only``: one of them is required."""
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--prompt", help="prompt text (not empty)")
    group.add_argument(
        "--bos-only",
        action="store_true",
        help="start from the model's BOS token alone, with no prompt text",
    )


def _sampling(p: argparse.ArgumentParser, **defaults: Any) -> None:
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=defaults["max_new_tokens"],
        help="tokens to generate at most",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=defaults["temperature"],
        help="sampling temperature; 0 is greedy (the same output every run)",
    )
    p.add_argument(
        "--top-k", type=int, default=50, help="sample among the K most likely tokens (0: all)"
    )
    p.add_argument(
        "--top-p",
        type=float,
        default=defaults["top_p"],
        help="sample among the most likely tokens whose probabilities add up to P",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="random seed (default: a new one every run)"
    )


def _generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "generate",
        "hyperion_otel.cli.runtime_cmds:run_generate",
        help="generate text with a model",
        description="Generate text and print a run summary on stderr.",
    )
    _model_option(p)
    _prompt(p)
    _sampling(p, max_new_tokens=64, temperature=0.8, top_p=0.9)
    p.add_argument(
        "--stop",
        action="append",
        default=[],
        help="stop string: generation ends before it (repeatable)",
    )
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    p.add_argument(
        "--block-size",
        type=int,
        default=None,
        help="KV cache block size in tokens (default: the model's)",
    )
    p.add_argument(
        "--prefetch", action="store_true", help="allocate the next KV block ahead of need"
    )
    p.add_argument(
        "--debug", action="store_true", help="log the top candidates of every step to stderr"
    )


def _verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "verify",
        "hyperion_otel.cli.runtime_cmds:run_verify",
        help="check a checkpoint for problems",
        description="Verify a model checkpoint: headers, shapes, NaN/inf values. "
        "Exit code 1 when it has problems.",
    )
    _model_path(p)
    _json(p, "the report")


def _info(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "info",
        "hyperion_otel.cli.runtime_cmds:run_info",
        help="describe a checkpoint",
        description="Show a checkpoint's format, architecture, parameters and memory.",
    )
    _model_path(p)
    _json(p, "the info")


def _doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "doctor",
        "hyperion_otel.cli.doctor:run",
        help="check the set-up: settings, log file, facilities, OTLP export, model, limits",
        description="Run the debugging checklist live and print pass/warn/fail with a fix for "
        "each failure. Exit code 0 when nothing failed, 1 otherwise.",
    )
    p.add_argument("--model", default="builtin:tiny", help="checkpoint to verify: " + MODEL_HELP)
    p.add_argument("--no-model", action="store_true", help="skip the model check")
    p.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="seconds each OTLP test export may take, retries included",
    )
    _json(p, "the result")


def _profile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "profile",
        "hyperion_otel.cli.profile_cmd:run",
        help="generate under the profiler; save the profile, print hotspots and bottlenecks",
        description="Generate text under the sampling profiler with op tracing, save the "
        "profile and print the hotspots and the bottleneck summary.",
    )
    _model_option(p)
    _prompt(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="profile file (default <HYPERION_OUTPUT_DIR>/profile.json; "
        "*.speedscope.json for speedscope, *.summary.json for a summary)",
    )
    _sampling(p, max_new_tokens=32, temperature=0.0, top_p=1.0)
    p.add_argument("--interval-ms", type=float, default=1.0, help="sampling interval (ms)")
    p.add_argument(
        "--trace-calls",
        action="store_true",
        help="also trace every Python call (exact call counts; costs time on every call)",
    )
    p.add_argument("--top", type=int, default=10, help="hotspots to print")
    _json(p, "hotspots and bottlenecks")


def _report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "report",
        "hyperion_otel.cli.report_cmd:run",
        help="write an HTML report (timeline, latencies, memory, hotspots, errors) of a run",
        description="Build one self-contained HTML file (inline SVG, no network) from the "
        "local OTLP-JSON files, JSON log and profile of a run.",
    )
    p.add_argument(
        "directory",
        nargs="?",
        default=None,
        help="the run's output directory (default: HYPERION_OUTPUT_DIR, hyperion-output)",
    )
    p.add_argument(
        "-o", "--output", default=None, help="HTML file to write (default: DIR/report.html)"
    )
    p.add_argument(
        "--log-file",
        default=None,
        help="JSON log file (default: HYPERION_LOG_FILE when DIR is not given, "
        "else DIR/hyperion.log)",
    )
    p.add_argument("--profile", default=None, help="profile JSON (default: the newest one in DIR)")


def build_parser(prog: str, description: str, version: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_generate, _verify, _info, _doctor, _profile, _report):
        add(sub)
    return parser
