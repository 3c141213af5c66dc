"""The memory debugger: tensor pool with a budget, allocation tracking, leaks, heap stats,
canaries and guard pages (the guide's "Memory Debugger").

Quick start::

    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True))
    x = pool.allocate((16, 768))              # the runtime allocates through the same pool
    print(get_allocation_trace(x))
    print(check_memory_leaks().format())
    shutdown_memory()                          # restores the previous allocator

Importing this package has no side effects.
"""

from __future__ import annotations

from hyperion_otel.memory.config import (
    MemoryConfig,
    MemoryDebugConfig,
    MemoryOptimizerConfig,
)
from hyperion_otel.memory.current import (
    check_memory_corruption,
    current_pool,
    enable_memory_debug,
    enable_stack_traces,
    get_allocation_trace,
    get_heap_stats,
    get_memory_debug_info,
    init_memory,
    shutdown_memory,
)
from hyperion_otel.memory.heap import HeapStats
from hyperion_otel.memory.leaks import (
    LeakCheckpoint,
    LeakSite,
    MemoryLeakReport,
    check_memory_leaks,
    clear_leak_checkpoint,
    leak_check,
    set_leak_checkpoint,
)
from hyperion_otel.memory.optimizer import (
    MemoryOptimizer,
    configure_memory_optimizer,
    get_memory_optimizer,
    set_memory_speed_tradeoff,
)
from hyperion_otel.memory.pool import MemoryPool
from hyperion_otel.memory.spans import SpanMemory, span_memory, start_span_memory
from hyperion_otel.memory.tracker import AllocationInfo, MemoryDebugInfo

__all__ = [
    "AllocationInfo",
    "HeapStats",
    "LeakCheckpoint",
    "LeakSite",
    "MemoryConfig",
    "MemoryDebugConfig",
    "MemoryDebugInfo",
    "MemoryLeakReport",
    "MemoryOptimizer",
    "MemoryOptimizerConfig",
    "MemoryPool",
    "SpanMemory",
    "check_memory_corruption",
    "check_memory_leaks",
    "clear_leak_checkpoint",
    "configure_memory_optimizer",
    "current_pool",
    "enable_memory_debug",
    "enable_stack_traces",
    "get_allocation_trace",
    "get_heap_stats",
    "get_memory_debug_info",
    "get_memory_optimizer",
    "init_memory",
    "leak_check",
    "set_leak_checkpoint",
    "set_memory_speed_tradeoff",
    "shutdown_memory",
    "span_memory",
    "start_span_memory",
]
