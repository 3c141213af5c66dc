"""Corruption modes: canaries caught by check_memory_corruption() and free(), guard pages that
kill the process at the faulty write with faulthandler naming the line."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from hyperion_otel.errors import HyperionMemoryError
from hyperion_otel.memory import (
    MemoryConfig,
    check_memory_corruption,
    get_heap_stats,
    init_memory,
)

REPO = Path(__file__).resolve().parents[2]


def overrun(arr: np.ndarray, by: int = 1) -> None:
    """Write ``by`` elements past the end of ``arr`` (a bug numpy would not let you make)."""
    flat = arr.reshape(-1)
    wide = as_strided(flat, shape=(flat.size + by,), strides=flat.strides)
    wide[flat.size :] = 42


def underrun(arr: np.ndarray) -> None:
    """Write one element just before the start of ``arr``."""
    flat = arr.reshape(-1)
    back = as_strided(flat, shape=(2,), strides=(-flat.strides[0],))
    back[1] = 42


def test_overrun_is_caught_naming_the_allocation_and_its_line():
    pool = init_memory(MemoryConfig(check_corruption=True))
    ok = pool.allocate((4, 4), np.float32)
    bad = pool.allocate((3, 5), np.float32)
    site_line = sys._getframe().f_lineno - 1  # the allocation above
    bad[...] = 1  # in bounds: fine
    assert check_memory_corruption() == 2
    overrun(bad)
    with pytest.raises(HyperionMemoryError) as info:
        check_memory_corruption()
    err = info.value
    assert "allocation #2 (float32[3, 5], 60 bytes)" in err.message
    assert f"{__file__}:{site_line}" in err.message and "canary after the data" in err.message
    assert "first damaged byte at data offset 60" in err.message
    assert err.details["alloc_line"] == site_line and err.details["allocation_id"] == 2
    del ok


def test_underrun_and_several_damaged_blocks_are_all_named():
    pool = init_memory(MemoryConfig(check_corruption=True))
    a = pool.allocate(8, np.int32)
    b = pool.allocate(8, np.int32)
    underrun(a)
    overrun(b, by=3)
    with pytest.raises(HyperionMemoryError, match="2 allocations corrupted") as info:
        check_memory_corruption()
    assert "#1" in info.value.message and "canary before the data" in info.value.message
    assert "data offset -4" in info.value.message
    assert "#2" in info.value.message and "data offset 32" in info.value.message


def test_free_verifies_canaries_and_still_returns_the_block():
    pool = init_memory(MemoryConfig(check_corruption=True, enable_optimization=False))
    arr = pool.allocate(16, np.uint8)
    overrun(arr, by=2)
    with pytest.raises(HyperionMemoryError, match=r"allocation #1 .* found by free\(\)"):
        pool.free(arr)
    assert get_heap_stats().used_bytes == 0
    again = pool.allocate(16, np.uint8)  # the block is whole again: canaries rewritten
    pool.free(again)


def test_without_check_corruption_nothing_is_checked():
    pool = init_memory(MemoryConfig())
    arr = pool.allocate(8)
    overrun(arr)  # lands in the block's padding: unseen, as documented
    assert check_memory_corruption() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="guard pages need mmap/mprotect")
def test_guard_page_arrays_end_at_a_page_boundary_and_count_against_the_budget():
    page = mmap.PAGESIZE
    pool = init_memory(
        MemoryConfig(enable_guard_pages=True, max_pool_size=8 * page, track_allocations=True)
    )
    a = pool.allocate((10, 3), np.float32)
    b = pool.allocate((page // 4,), np.float32)  # exactly one page of data
    for arr in (a, b):
        start = arr.__array_interface__["data"][0]
        assert (start + arr.nbytes) % page == 0
        arr[...] = 3  # every in-bounds byte is writable
    stats = get_heap_stats()
    assert stats.pool_bytes == 4 * page and stats.allocation_count == 2
    with pytest.raises(HyperionMemoryError, match="budget exceeded"):
        pool.allocate((5 * page,), np.uint8)
    pool.free(a)
    assert get_heap_stats().pool_bytes == 2 * page
    with pytest.raises(HyperionMemoryError, match="double free"):
        pool.free(a)  # reads only the array header, never the protected data


GUARD_SCRIPT = """
import faulthandler, sys
import numpy as np
from numpy.lib.stride_tricks import as_strided
from hyperion_otel.memory import MemoryConfig, init_memory, shutdown_memory

mode = sys.argv[1]
if mode == "restore":
    faulthandler.disable()
    init_memory(MemoryConfig(enable_guard_pages=True))
    on = faulthandler.is_enabled()
    shutdown_memory()
    print("enabled-during", on, "enabled-after", faulthandler.is_enabled())
    sys.exit(0)
pool = init_memory(MemoryConfig(enable_guard_pages=True))
arr = pool.allocate((7, 3), np.float32)
arr[...] = 1.0
wide = as_strided(arr.reshape(-1), shape=(22,), strides=(4,))
if mode == "overrun":
    wide[21] = 2.0  # OVERRUN-LINE
else:
    pool.free(arr)
    print(float(arr[0, 0]))  # USE-AFTER-FREE-LINE
print("survived")
"""


def run_guard_script(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    script = tmp_path / "guard_victim.py"
    script.write_text(textwrap.dedent(GUARD_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return proc, script


def line_of(script: Path, marker: str) -> int:
    return next(i for i, text in enumerate(script.read_text().splitlines(), 1) if marker in text)


@pytest.mark.skipif(sys.platform == "win32", reason="guard pages need mmap/mprotect")
@pytest.mark.parametrize(
    ("mode", "marker"), [("overrun", "OVERRUN-LINE"), ("use_after_free", "USE-AFTER-FREE-LINE")]
)
def test_guard_page_fault_kills_the_process_and_names_the_line(tmp_path, mode, marker):
    proc, script = run_guard_script(tmp_path, mode)
    assert proc.returncode == -signal.SIGSEGV, (proc.returncode, proc.stdout, proc.stderr)
    assert "survived" not in proc.stdout
    assert "Segmentation fault" in proc.stderr
    assert f'File "{script}", line {line_of(script, marker)}' in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="guard pages need mmap/mprotect")
def test_guard_mode_enables_faulthandler_and_restores_it(tmp_path):
    proc, _ = run_guard_script(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["enabled-during", "True", "enabled-after", "False"]
