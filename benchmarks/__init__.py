"""hyperion-otel benchmarks: one script per topic (``bench_<topic>.py``, each with
``main(argv=None) -> dict`` and ``--quick``) and a runner that runs them all and prints
every goal side by side:

    python -m benchmarks [--quick] [--json out.json] [--only decode,logging]

See ``benchmarks/runner.py`` for the figures and their goals. Importing this package
imports nothing else (each benchmark runs in its own process).
"""
