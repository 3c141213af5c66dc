"""Resource limits and usage: the guide's ``hyperionSetResourceLimits`` /
``hyperionGetResourceUsage`` on the built-in model.

Caps the BLAS pool at one thread, holds the CPU share at 50 % of a core and bounds the
process memory; generates; prints the usage; then shows what a memory limit below the
process's need does (a ``ResourceLimitError`` with the figures, before any work). Run::

    python examples/resource_limits.py [checkpoint-dir]      # default: builtin:tiny

``configure()`` applies the same limits process-wide from ``HYPERION_MAX_CPU_PERCENT``,
``HYPERION_MAX_MEMORY_MB`` and ``HYPERION_MAX_THREADS``, and exports the process metrics
(``process.cpu.utilization``, ``process.memory.usage``, ...) with the other telemetry.
"""

from __future__ import annotations

import sys

from hyperion_otel.errors import ResourceLimitError
from hyperion_otel.resources import ResourceLimits, get_resource_usage, set_resource_limits
from hyperion_otel.runtime import GenerationConfig, load_model


def main(path: str = "builtin:tiny") -> int:
    model = load_model(path)
    before = get_resource_usage(model)
    limits = ResourceLimits(max_cpu_percent=50, max_memory_mb=before.rss_mb + 512, max_threads=1)
    set_resource_limits(model, limits)

    prompt = "Once upon a time" if model.tokenizer is not None else [1, 2, 3]
    out = model.generate(prompt, GenerationConfig(max_new_tokens=24, temperature=0))
    usage = get_resource_usage(model)
    print(f"generated {len(out.token_ids)} tokens in {out.timings.total_s:.2f} s: {out.text!r}")
    print(
        f"limits:   cpu {limits.max_cpu_percent} %, memory {limits.max_memory_mb:.0f} MiB, "
        f"threads {limits.max_threads}"
    )
    print(
        f"usage:    cpu {usage.cpu_percent:.0f} % over {usage.cpu_interval_s:.2f} s "
        f"(throttled {usage.throttle_s:.2f} s), rss {usage.rss_mb:.0f} MiB, "
        f"uss {usage.uss_mb or 0:.0f} MiB, threads {usage.threads}, fds {usage.open_fds}, "
        f"blas threads {usage.blas_threads}"
    )

    # A limit below what the process already holds: refused before the model does any work.
    set_resource_limits(model, ResourceLimits(max_memory_mb=usage.rss_mb / 2))
    try:
        model.generate(prompt, GenerationConfig(max_new_tokens=4))
    except ResourceLimitError as err:
        print(f"refused:  {err}")
        print(f"figures:  limit {err.details['limit_mb']:.0f} MiB, rss {err.details['rss_mb']} MiB")
    else:
        print("the memory limit did not stop the model")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
