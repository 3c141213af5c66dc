"""Subcommands of ``hyperion-otel`` beyond the runtime's: ``doctor``, ``profile``, ``report``.

Each subcommand module exposes a ``register_<name>(subparsers)`` function listed in
``hyperion_otel.cli.SUBCOMMANDS``; nothing here runs at import.
"""
