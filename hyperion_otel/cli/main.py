"""The ``hyperion-otel`` command.

Options live in ``_parsers`` (argparse only, so ``--help`` and usage errors answer at once);
each subcommand names the ``"module:function"`` that runs it, imported only for the
command given.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from hyperion_otel._version import __version__
from hyperion_otel.cli import _parsers

__all__ = ["EXIT_BROKEN_PIPE", "TELEMETRY_COMMANDS", "build_parser", "main"]

# 128 + SIGPIPE: the status a shell reports for a Unix tool whose reader closed the pipe.
EXIT_BROKEN_PIPE = 128 + 13

# Commands that run inside configure() (settings from the environment) and shutdown():
# doctor checks the configuration itself, and verify, info and report only read files.
TELEMETRY_COMMANDS: frozenset[str] = frozenset({"generate", "profile"})


def build_parser() -> argparse.ArgumentParser:
    return _parsers.build_parser(
        "hyperion-otel",
        "OpenTelemetry-native debugging for model inference, with a numpy model runtime.",
        __version__,
    )


def _runner(spec: str) -> Callable[[argparse.Namespace], int]:
    module, _, func = spec.partition(":")
    fn: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), func)
    return fn


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
    spec: str | None = getattr(args, "run", None)
    if spec is None:
        parser.print_help(sys.stderr)
        return 2
    # Imported once the command line is known good: --help never pays for it.
    from hyperion_otel.errors import HyperionError

    teardown: Callable[[], None] = lambda: None  # noqa: E731
    try:
        teardown = _setup_telemetry(args)  # a bad env var is a clean error, not a traceback
        return _runner(spec)(args)
    except HyperionError as exc:
        print(f"hyperion-otel {args.command}: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, as Unix tools do.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        teardown()


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout to replace: nothing will flush to it
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
