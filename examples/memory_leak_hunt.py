"""Memory leak hunt: which line keeps tensors alive, found with the guide's memory debugger.

A request handler with a bug (it caches one activation per request) runs inside a leak
scope; the report names the allocating line with its stack, ``get_allocation_trace`` shows
where one leaked array came from, heap stats show the pool filling up, and after the fix
the same scope is clean. Then the runtime itself runs in the same pool: after ``generate``
no allocation of the model is left behind. Run::

    python examples/memory_leak_hunt.py [MODEL]     # MODEL defaults to builtin:tiny

Writes only the OTLP-JSON files of the run under ``$HYPERION_OUTPUT_DIR``.
"""

from __future__ import annotations

import sys

import numpy as np

import hyperion_otel as h
from hyperion_otel.memory import leak_check

MiB = 1024 * 1024
_cache: list[np.ndarray] = []


def handle_request(pool: h.MemoryPool, i: int, buggy: bool) -> float:
    hidden = pool.allocate((128, 64))  # [tokens, d_model]
    hidden[:] = i
    scores = pool.allocate((128, 128))  # [tokens, tokens]
    np.matmul(hidden, hidden.T, out=scores)
    result = float(scores[0, 0])
    pool.free(scores)
    if buggy:
        _cache.append(hidden)  # the bug: "for debugging later", never freed
    else:
        pool.free(hidden)
    return result


def main() -> None:
    h.configure(log_outputs=("console",))
    pool = h.init_memory(
        h.MemoryConfig(
            track_allocations=True,
            track_stack_traces=True,
            check_corruption=True,
            initial_pool_size=8 * MiB,
            max_pool_size=64 * MiB,
        )
    )

    with leak_check(log=False) as scope:
        for i in range(40):
            handle_request(pool, i, buggy=True)
    report = scope.report
    assert report is not None and report.has_leaks
    print("--- leak report (buggy handler) ---")
    print(report.format().split("\n  File")[0])  # the summary line and the top site
    top = report.leaks[0]
    print(f"top site: {top.site}: {top.count} allocations, {top.nbytes} bytes")
    print("--- where one leaked array was allocated ---")
    print(h.get_allocation_trace(_cache[0]))
    stats = h.get_heap_stats()
    info = h.get_memory_debug_info()
    print(
        f"heap: {stats.used_bytes / MiB:.1f} MiB used of {stats.pool_bytes / MiB:.1f} MiB, "
        f"fragmentation {stats.fragmentation:.0%}; {info.active_allocations} live allocations"
    )
    assert "handle_request" in top.trace and top.count == 40
    print(f"canaries intact around the {h.check_memory_corruption()} live allocation(s)")

    for array in _cache:  # the fix: free what the handler cached, and stop caching
        pool.free(array)
    _cache.clear()
    with leak_check(log=False) as scope:
        for i in range(40):
            handle_request(pool, i, buggy=False)
    assert scope.report is not None and not scope.report.has_leaks
    print("after the fix: no live allocations from the handler")

    model = h.load_model(sys.argv[1] if len(sys.argv) > 1 else "builtin:tiny")
    with leak_check(log=False) as scope:
        gen = model.generate("Memory is", h.GenerationConfig(max_new_tokens=16, temperature=0))
    assert scope.report is not None
    print(
        f"generate: {gen.usage.output_tokens} tokens, {pool.debug_info().total_allocations} pool "
        f"allocations in all, {scope.report.total_count} left behind by the runtime"
    )
    h.shutdown()


if __name__ == "__main__":
    main()
