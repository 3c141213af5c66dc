"""The ``hyperion-otel`` command.

Subcommands live in their own modules and are listed in ``SUBCOMMANDS`` as
``"module:function"``; each function receives the subparsers object, adds its parser
and sets ``func`` (``args -> int``) as the parser default. Modules are imported only
when the command line is built, so ``import hyperion_otel.cli`` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from hyperion_otel._version import __version__
from hyperion_otel.errors import HyperionError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# name -> "module:registrar"; others (doctor, profile, report, ...) are added here.
SUBCOMMANDS: dict[str, str] = {
    "generate": "hyperion_otel.cli.runtime_cmds:register_generate",
    "verify": "hyperion_otel.cli.runtime_cmds:register_verify",
    "info": "hyperion_otel.cli.runtime_cmds:register_info",
    "doctor": "hyperion_otel.cli.doctor:register_doctor",
    "profile": "hyperion_otel.cli.profile_cmd:register_profile",
    "report": "hyperion_otel.cli.report_cmd:register_report",
}
# Commands that get configure() (settings from the environment) and shutdown() around them.
# The others do not: doctor checks the configuration itself; verify, info and report only
# read files.
TELEMETRY_COMMANDS: frozenset[str] = frozenset({"generate", "profile"})

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrar(spec: str) -> Registrar:
    module, _, func = spec.partition(":")
    fn: Registrar = getattr(importlib.import_module(module), func)
    return fn


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperion-otel",
        description="OpenTelemetry-native debugging for model inference, with a numpy model runtime.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for spec in SUBCOMMANDS.values():
        _registrar(spec)(subparsers)
    return parser


def _setup_telemetry(args: argparse.Namespace) -> Callable[[], None]:
    """``configure()`` from the environment for the commands that run the model; returns
    the undo (``shutdown()``, which flushes within ``HYPERION_SHUTDOWN_TIMEOUT_S``)."""
    if args.command not in TELEMETRY_COMMANDS:
        return lambda: None
    from hyperion_otel import sdk

    sdk.configure()

    def teardown() -> None:
        sdk.shutdown()

    return teardown


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    teardown: Callable[[], None] = lambda: None  # noqa: E731
    try:
        teardown = _setup_telemetry(args)  # a bad env var is a clean error, not a traceback
        return func(args)
    except HyperionError as exc:
        print(f"hyperion-otel {args.command}: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        teardown()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
