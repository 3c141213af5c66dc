"""What the runtime and the facilities share without importing each other.

The runtime reaches a facility only through a seam here, and a facility never imports the
runtime: ``telemetry`` (the one tracer/meter/logger face), ``ops`` (the op hook the
profiler listens on), ``allocator`` (where the runtime gets tensors: the memory pool when
one is installed), ``governor`` (resource limits the runtime asks for), ``span_hooks``
(what facilities add to a runtime span) and ``genai`` (the generate telemetry the runtime
and the integrations for other runtimes share). Each module imports nothing above this
package.
"""
