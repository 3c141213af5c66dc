"""The ``hyperion-otel`` command: the parser in ``main``, one module per subcommand family.

Importing this package loads neither numpy nor the OTel SDK; each subcommand imports what
it needs when it runs.
"""

from __future__ import annotations

from hyperion_otel.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
