"""``python -m benchmarks``: run every benchmark and print one table of figures and goals.

    python -m benchmarks [--quick] [--json out.json] [--only decode,logging]
    python -m benchmarks --only soak --minutes 20   # the endurance run, only when asked

Full scale takes under 10 minutes on 2 cores, ``--quick`` about 2. Run it from the
repository root. To compare against torch with the machine's native BLAS kernels where
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` are set, unset both for this command alone:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from benchmarks import runner


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    scale = ap.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    scale.add_argument(
        "--tiny", action="store_true", help="smoke-test sizes (seconds; figures are meaningless)"
    )
    ap.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads in every benchmark (default 1; 0 = library default)",
    )
    ap.add_argument(
        "--only",
        metavar="NAMES",
        help="comma list of: " + ", ".join(b.name for b in runner.BENCHES),
    )
    ap.add_argument(
        "--minutes",
        type=float,
        metavar="N",
        help="length of the timed benchmarks (soak; default 20 at full scale)",
    )
    args = ap.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    unknown = [n for n in only or () if n not in runner.BY_NAME]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    scale_name = "quick" if args.quick else "tiny" if args.tiny else "full"
    if args.blas_threads < 0:
        ap.error("--blas-threads must be >= 0")
    report = runner.run(
        scale_name,
        only,
        progress=lambda s: print(s, file=sys.stderr, flush=True),
        blas_threads=args.blas_threads,
        minutes=args.minutes,
    )
    print(runner.markdown(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, default=str)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
