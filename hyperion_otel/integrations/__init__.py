"""Instrumentors for runtimes other than ours: the same telemetry for models you bring.

Each integration is a subpackage built on ``opentelemetry-instrumentation``'s
``BaseInstrumentor`` and registered under the ``opentelemetry_instrumentor`` entry point.
Importing this package (or an integration) imports neither the instrumented library nor
its dependencies: they are imported when ``instrument()`` runs.
"""
