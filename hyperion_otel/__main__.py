"""``python -m hyperion_otel``: the ``hyperion-otel`` command."""

from __future__ import annotations

import sys

from hyperion_otel.cli import main

if __name__ == "__main__":
    sys.exit(main())
