"""Every code sample of the Hyperion debugging guide, in the guide's order, runs as written.

Each sample is translated with the README's "Guide to API map"; the guide's C text stands
above its translation as a comment. The walk runs in a fresh interpreter (it sets the
process-wide logging, memory pool, profiler and resource limits the way an application
would) and must finish without an error.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def walk_the_guide() -> int:
    """Run every sample; returns how many ran. The working directory is the test's."""
    import hyperion_otel as h
    from hyperion_otel.testing import TestConfig, configure_test_env, create_test_context

    ran = 0

    # --- Debugging Tools / Logging System / 1. Configure Logging
    # hyperionSetLogLevel(HYPERION_LOG_DEBUG);
    h.set_log_level(h.LogLevel.DEBUG)
    # hyperionConfigureLogging(HYPERION_LOG_FILE | HYPERION_LOG_CONSOLE);
    h.configure_logging(h.LogOutput.FILE | h.LogOutput.CONSOLE)
    # hyperionSetLogFile("hyperion_debug.log");
    h.set_log_file("hyperion_debug.log")
    ran += 1

    # --- 2. Log Categories
    # hyperionEnableMemoryLogging(true);
    h.enable_memory_logging(True)
    # hyperionEnablePerformanceLogging(true);
    h.enable_performance_logging(True)
    # hyperionEnableModelLogging(true);
    h.enable_model_logging(True)
    ran += 1

    # --- Memory Debugger / 1. Enable Memory Debugging
    # HyperionMemoryConfig mem_config = {
    #     .track_allocations = true, .track_stack_traces = true,
    #     .enable_guard_pages = true, .check_corruption = true };
    # hyperionInitMemory(&mem_config);
    mem_config = h.MemoryConfig(
        track_allocations=True,
        track_stack_traces=True,
        enable_guard_pages=True,
        check_corruption=True,
    )
    h.init_memory(mem_config)
    ran += 1

    # --- 2. Track Memory Operations
    # HyperionMemoryDebugInfo debug_info;
    # hyperionGetMemoryDebugInfo(&debug_info);
    # printf("Active allocations: %zu\n", debug_info.active_allocations);
    # printf("Total allocations: %zu\n", debug_info.total_allocations);
    debug_info = h.get_memory_debug_info()
    print(f"Active allocations: {debug_info.active_allocations}")
    print(f"Total allocations: {debug_info.total_allocations}")
    ran += 1

    # --- Performance Profiler / 1. Enable Profiling
    # HyperionProfilerConfig config = { .track_functions = true, .track_memory = true,
    #     .track_cache = true, .sample_interval_ms = 1 };
    # hyperionInitProfiler(&config);
    config = h.ProfilerConfig(
        track_functions=True, track_memory=True, track_cache=True, sample_interval_ms=1
    )
    h.init_profiler(config)
    ran += 1

    # --- 2. Collect Profiles
    # hyperionStartProfiling();
    # // Your code here
    # run_operations();
    # // Stop and save profile
    # hyperionStopProfiling();
    # hyperionSaveProfile("profile.json");
    model = h.load_model("builtin:tiny")

    def run_operations() -> None:
        model.generate("def main(", h.GenerationConfig(max_new_tokens=8, temperature=0))

    h.start_profiling()
    run_operations()
    h.stop_profiling()
    h.save_profile("profile.json")
    ran += 1

    # --- Error Tracking / 1. Error Handling
    # hyperionSetErrorCallback(error_handler);
    # HyperionError error;
    # hyperionGetLastError(&error);
    # printf("Error: %s\n", error.message);
    # printf("Location: %s:%d\n", error.file, error.line);
    handled: list[str] = []

    def error_handler(error: h.HyperionError) -> None:
        handled.append(error.type.name)

    h.set_error_callback(error_handler)
    with contextlib.suppress(h.ModelError):  # the guide reads the error of a failed call
        h.load_model("no-such-model")
    error = h.get_last_error()
    assert error is not None and handled == ["MODEL"], handled
    print(f"Error: {error.message}")
    print(f"Location: {error.file}:{error.line}")
    ran += 1

    # --- 2. Error Categories
    # switch (error.type) {
    #     case HYPERION_ERROR_MEMORY: handle_memory_error(&error); break;
    #     case HYPERION_ERROR_PERFORMANCE: handle_performance_error(&error); break;
    #     case HYPERION_ERROR_MODEL: handle_model_error(&error); break; }
    match error.type:
        case h.ErrorType.MEMORY:
            print("memory error")
        case h.ErrorType.PERFORMANCE:
            print("performance error")
        case h.ErrorType.MODEL:
            print("model error")
    ran += 1

    # --- Common Issues / Memory Issues / 1. Memory Allocation Failures
    # HyperionMemoryConfig mem_config = {
    #     .initial_pool_size = 1024 * 1024 * 1024,  // 1GB
    #     .max_pool_size = 2 * 1024 * 1024 * 1024,  // 2GB
    #     .track_allocations = true, .enable_optimization = true };
    # hyperionInitMemory(&mem_config);
    mem_config = h.MemoryConfig(
        initial_pool_size=1024 * 1024 * 1024,
        max_pool_size=2 * 1024 * 1024 * 1024,
        track_allocations=True,
        enable_optimization=True,
    )
    pool = h.init_memory(mem_config)
    # HyperionMemoryOptimizerConfig opt_config = { .enable_tensor_reuse = true,
    #     .enable_in_place_ops = true, .memory_speed_tradeoff = 0.5f };
    opt_config = h.MemoryOptimizerConfig(
        enable_tensor_reuse=True, enable_in_place_ops=True, memory_speed_tradeoff=0.5
    )
    optimizer = h.configure_memory_optimizer(opt_config)
    ran += 1

    # --- 2. Memory Leaks
    # HyperionMemoryDebugConfig debug_config = { .track_allocations = true,
    #     .track_stack_traces = true };
    # hyperionEnableMemoryDebug(&debug_config);
    # HyperionMemoryLeakReport report;
    # hyperionCheckMemoryLeaks(&report);
    debug_config = h.MemoryDebugConfig(track_allocations=True, track_stack_traces=True)
    h.enable_memory_debug(debug_config)
    leak_report = h.check_memory_leaks()
    print(leak_report.format())
    ran += 1

    # --- Performance Issues / 1. Slow Model Inference
    # hyperionEnableSIMD(model, HYPERION_SIMD_OP_ALL, true);
    # hyperionSetMemorySpeedTradeoff(optimizer, 0.8f);
    # HyperionCacheConfig cache_config = { .block_size = 64, .enable_prefetch = true };
    # hyperionConfigureCacheOptimization(model, &cache_config);
    h.enable_simd(model, h.SimdOp.ALL, on=True)
    h.set_memory_speed_tradeoff(optimizer, 0.8)
    cache_config = h.CacheConfig(block_size=64, enable_prefetch=True)
    h.configure_cache_optimization(model, cache_config)
    ran += 1

    # --- 2. Resource Utilization
    # hyperionSetResourceLimits(model, &(HyperionResourceLimits){
    #     .max_cpu_percent = 80, .max_memory_mb = 1024, .max_threads = 4 });
    # HyperionResourceUsage usage;
    # hyperionGetResourceUsage(model, &usage);
    h.set_resource_limits(
        model, h.ResourceLimits(max_cpu_percent=80, max_memory_mb=1024, max_threads=4)
    )
    usage = h.get_resource_usage(model)
    print(usage)
    ran += 1

    # --- Model Issues / 1. Model Loading
    # hyperionVerifyModel(model_path);
    # HyperionModelInfo info;
    # hyperionGetModelInfo(model_path, &info);
    model_path = "builtin:tiny"
    assert h.verify_model(model_path).ok
    info = h.get_model_info(model_path)
    print(info)
    ran += 1

    # --- 2. Generation Issues
    # HyperionGenerationConfig config = { .temperature = 0.8f, .top_k = 50, .top_p = 0.9f };
    # hyperionEnableGenerationDebug(true);
    gen_config = h.GenerationConfig(temperature=0.8, top_k=50, top_p=0.9)
    h.enable_generation_debug(True)
    model.generate("import os", gen_config)
    ran += 1

    # --- Debugging Techniques / Memory Analysis / 1. Stack Trace Analysis
    # hyperionEnableStackTraces(true);
    # const char* trace = hyperionGetAllocationTrace(ptr);
    # printf("Allocated at:\n%s\n", trace);
    h.enable_stack_traces(True)
    ptr = pool.allocate((64, 64))
    trace = h.get_allocation_trace(ptr)
    print(f"Allocated at:\n{trace}")
    assert "walk_the_guide" in trace, trace
    ran += 1

    # --- 2. Heap Analysis
    # HyperionHeapStats stats;
    # hyperionGetHeapStats(&stats);
    # printf("Fragmentation: %.2f%%\n", stats.fragmentation * 100);
    stats = h.get_heap_stats()
    print(f"Fragmentation: {stats.fragmentation * 100:.2f}%")
    ran += 1

    # --- Performance Analysis / 1. Hotspot Analysis
    # hyperionEnableHotspotDetection(true);
    # HyperionHotspotReport report;
    # hyperionGetHotspots(&report);
    h.enable_hotspot_detection(True)
    run_operations()
    hotspot_report = h.get_hotspots()
    print(hotspot_report)
    assert hotspot_report.sample_count > 0
    ran += 1

    # --- 2. Bottleneck Detection
    # HyperionBottleneckReport report;
    # hyperionAnalyzeBottlenecks(model, &report);
    bottleneck_report = h.analyze_bottlenecks(model)
    print(bottleneck_report)
    ran += 1

    # --- Best Practices / Error Handling / 1. Defensive Programming
    # if (!hyperionValidateInputs(inputs)) { return HYPERION_ERROR_INVALID_INPUT; }
    # if (result != HYPERION_SUCCESS) {
    #     hyperionLogError("Operation failed: %s", hyperionGetErrorString(result));
    #     return result; }
    h.validate_inputs(prompt="def main(", config=gen_config)
    try:
        model.generate([10**6], gen_config)
    except h.HyperionError as result:
        h.log_error("Operation failed: %s", h.get_error_string(result.type))
    ran += 1

    # --- 2. Resource Management
    # HyperionCleanupHandler handler;
    # hyperionInitCleanupHandler(&handler);
    # hyperionAddCleanup(&handler, resource, cleanup_func);
    handler = h.CleanupHandler()
    handler.add_cleanup(ptr, pool.free)
    ran += 1

    # --- Logging / 1. Structured Logging
    # hyperionConfigureStructuredLogging(&(HyperionLogConfig){
    #     .format = HYPERION_LOG_JSON, .include_timestamp = true, .include_thread_id = true });
    h.configure_structured_logging(
        h.LogConfig(format=h.LogFormat.JSON, include_timestamp=True, include_thread_id=True)
    )
    ran += 1

    # --- 2. Log Rotation
    # hyperionConfigureLogRotation(&(HyperionLogRotationConfig){
    #     .max_size_mb = 100, .max_files = 5, .compress = true });
    h.configure_log_rotation(h.LogRotationConfig(max_size_mb=100, max_files=5, compress=True))
    ran += 1

    # --- Testing / 1. Unit Testing
    # HyperionTestContext* ctx = hyperionCreateTestContext();
    # hyperionAddTest(ctx, "memory_test", test_memory_management);
    def test_memory_management() -> None:
        arr = pool.allocate((8, 8))
        pool.free(arr)

    ctx = create_test_context()
    ctx.add_test("memory_test", test_memory_management)
    ran += 1

    # --- 2. Integration Testing
    # hyperionConfigureTestEnv(&(HyperionTestConfig){ .mock_memory = true, .mock_io = true });
    # (mock_io makes the exporters of the test context fail, so it is passed along)
    test_env = configure_test_env(TestConfig(mock_memory=True, mock_io=True), ctx)
    ran += 1

    test_env.close()
    handler.close()
    h.enable_hotspot_detection(False)
    h.remove_error_callback(error_handler)
    return ran


def test_every_sample_of_the_guide_runs_in_order(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "HYPERION_OUTPUT_DIR": str(tmp_path / "out"),
    }
    proc = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # the guide has 24 code samples
    assert proc.stdout.splitlines()[-1] == "guide: 24 samples ran", proc.stdout[-2000:]
    assert (tmp_path / "profile.json").is_file()
    assert (tmp_path / "hyperion_debug.log").is_file()
    assert "Operation failed: " in proc.stderr  # the guide's log_error, on the console


if __name__ == "__main__":
    print(f"guide: {walk_the_guide()} samples ran")
