"""safetensors checkpoints (single file or sharded with ``model.safetensors.index.json``).

The JSON header is checked here before the ``safetensors`` library touches the file, so
that every defect (truncated or oversized header, offsets past the end, unknown dtypes,
overlapping tensors) becomes a ``ModelError`` naming the file and the exact problem.
Tensor data is then read from a memory map of the file at the offsets validated here,
converted (and transposed where the runtime wants the other layout) in one copy; numpy
has no bfloat16, so BF16 is widened from its bits.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperion_otel.errors import ModelError
from hyperion_otel.runtime.formats import TensorInfo, copy_c

__all__ = ["INDEX_FILE", "SINGLE_FILE", "SafetensorsCheckpoint", "read_header"]

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_INDEX_BYTES = 64 * 1024 * 1024

# Every dtype of the safetensors spec, with its item size in bytes (None: sub-byte).
DTYPE_SIZES: dict[str, int | None] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "F4": None,
    "F6_E2M3": None,
    "F6_E3M2": None,
    "C64": 8,
}
# Dtypes that weights may have (converted to float32 at load).
FLOAT_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}


@dataclass(frozen=True)
class _Entry:
    info: TensorInfo
    begin: int  # absolute byte offset in the file
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    entries: dict[str, _Entry]
    metadata: dict[str, str]
    file_size: int


def _fail(path: Path, msg: str) -> ModelError:
    return ModelError(f"{path}: {msg}", path=str(path))


def read_header(path: Path, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Read and validate one file's header (reads at most ``8 + max_header_bytes`` bytes)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise _fail(
                    path,
                    f"truncated safetensors file: {size} bytes, the 8-byte header length is missing",
                )
            (n,) = struct.unpack("<Q", head)
            if n > max_header_bytes:
                raise _fail(
                    path,
                    f"safetensors header length {n} exceeds the limit of {max_header_bytes} bytes",
                )
            if 8 + n > size:
                raise _fail(
                    path,
                    f"truncated safetensors header: declares {n} bytes, file has {size - 8} after the length",
                )
            raw = fh.read(n)
    except OSError as exc:
        raise _fail(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _fail(path, "safetensors header must be a JSON object")
    data_start = 8 + n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _fail(path, "__metadata__ must map strings to strings")
    entries = {name: _entry(path, name, spec, data_start, size) for name, spec in header.items()}
    spans = sorted((e.begin, e.end, name) for name, e in entries.items() if e.end > e.begin)
    for (_b0, e0, n0), (b1, _e1, n1) in itertools.pairwise(spans):
        if b1 < e0:
            raise _fail(path, f"tensors {n0!r} and {n1!r} overlap in the data section")
    return SafetensorsHeader(path, entries, dict(metadata), size)


def _entry(path: Path, name: str, spec: Any, data_start: int, size: int) -> _Entry:
    if not isinstance(spec, dict):
        raise _fail(path, f"tensor {name!r}: header entry must be an object, got {spec!r}")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise _fail(path, f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _fail(
            path, f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise _fail(
            path,
            f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, got {offsets!r}",
        )
    begin, end = data_start + offsets[0], data_start + offsets[1]
    if end > size:
        raise _fail(
            path,
            f"tensor {name!r}: data_offsets {offsets} run past the end of the file ({size - data_start} data bytes)",
        )
    item = DTYPE_SIZES[dtype]
    count = math.prod(shape)
    if item is not None and count * item != end - begin:
        raise _fail(
            path,
            f"tensor {name!r}: shape {shape} x {dtype} needs {count * item} bytes, data_offsets span {end - begin}",
        )
    return _Entry(TensorInfo(name, dtype, tuple(shape), end - begin), begin, end)


def _inside(directory: Path, name: Any, index_path: Path) -> Path:
    # A NUL byte would make Path.resolve raise ValueError instead of this ModelError.
    if not isinstance(name, str) or not name or "\x00" in name:
        raise _fail(index_path, f"weight_map names an invalid file {name!r}")
    # Checked lexically (relative, no ".."), not after resolving symlinks: the index must
    # not escape the directory, but the directory's own files may be symlinks, as in the
    # Hugging Face cache (snapshots/<rev>/model-0000N.safetensors -> ../../blobs/<sha>).
    pure = PurePath(name)
    if pure.is_absolute() or pure.anchor or not pure.parts or ".." in pure.parts:
        raise _fail(index_path, f"weight_map points outside the checkpoint directory: {name!r}")
    return directory / pure


def _read_index(directory: Path) -> dict[str, Path]:
    index_path = directory / INDEX_FILE
    if index_path.stat().st_size > MAX_INDEX_BYTES:
        raise _fail(index_path, f"index file is larger than {MAX_INDEX_BYTES} bytes")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(index_path, f"index file is not valid JSON: {exc}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise _fail(index_path, "index file has no 'weight_map' object")
    return {str(t): _inside(directory, f, index_path) for t, f in weight_map.items()}


class SafetensorsCheckpoint:
    """All tensors of a checkpoint directory's safetensors file(s)."""

    format = "safetensors"
    format_version: str | None = None

    def __init__(self, directory: Path, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.path = str(directory)
        self.directory = directory
        if (directory / INDEX_FILE).is_file():
            weight_map = _read_index(directory)
            files = sorted(set(weight_map.values()))
        elif (directory / SINGLE_FILE).is_file():
            weight_map, files = {}, [directory / SINGLE_FILE]
        else:
            found = sorted(
                p.name
                for p in directory.iterdir()
                if p.suffix in (".bin", ".pt", ".pth", ".safetensors")
            )
            hint = f" (found {', '.join(found)}; pickled weights are never loaded)" if found else ""
            raise _fail(
                directory, f"no {SINGLE_FILE} or {INDEX_FILE} in the checkpoint directory{hint}"
            )
        self.headers: list[SafetensorsHeader] = []
        self._where: dict[str, tuple[SafetensorsHeader, _Entry]] = {}
        for f in files:
            if not f.is_file():
                raise _fail(directory, f"shard {f.name!r} listed in {INDEX_FILE} does not exist")
            hdr = read_header(f, max_header_bytes)
            self.headers.append(hdr)
            for name, entry in hdr.entries.items():
                if name in self._where:
                    raise _fail(f, f"tensor {name!r} appears in more than one shard")
                self._where[name] = (hdr, entry)
        for tensor, f in weight_map.items():
            where = self._where.get(tensor)
            if where is None or where[0].path != f:
                raise _fail(
                    directory / INDEX_FILE,
                    f"weight_map says tensor {tensor!r} is in {f.name!r}, but it is not there",
                )
        self.metadata = {k: v for h in self.headers for k, v in h.metadata.items()}
        self._maps: dict[Path, mmap.mmap] = {}

    @property
    def size_bytes(self) -> int:
        return sum(h.file_size for h in self.headers)

    def infos(self) -> dict[str, TensorInfo]:
        return {name: e.info for name, (_h, e) in self._where.items()}

    def _raw(self, name: str, rows: slice | None = None) -> npt.NDArray[Any]:
        """A read-only view of the tensor's bytes in the file (rows of it with ``rows``)."""
        hdr, entry = self._where[name]
        info = entry.info
        if info.dtype not in FLOAT_DTYPES:
            raise _fail(
                hdr.path,
                f"tensor {name!r} has dtype {info.dtype}; weights must be F32, F16, BF16 or F64",
            )
        np_dtype = np.dtype(FLOAT_DTYPES[info.dtype]).newbyteorder("<")
        count = math.prod(info.shape)
        if not count:
            return np.zeros(info.shape, np_dtype)
        mm = self._maps.get(hdr.path)
        if mm is None:
            try:
                with open(hdr.path, "rb") as fh:
                    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise _fail(hdr.path, f"tensor {name!r}: {exc}") from None
            self._maps[hdr.path] = mm
        if len(mm) < entry.end:  # the file shrank since its header was read
            raise _fail(hdr.path, f"tensor {name!r}: the file ends before its data")
        arr = np.frombuffer(mm, np_dtype, count, entry.begin).reshape(info.shape)
        return arr[rows] if rows is not None else arr

    def read_fp32(
        self, name: str, transpose: bool = False, out: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float32]:
        # One pass from the map to the destination: convert and transpose in the same copy.
        arr = self._raw(name)
        return _to_fp32(arr.T if transpose else arr, self._where[name][1].info.dtype, out)

    def sample_fp32(self, name: str, max_elements: int) -> Iterator[npt.NDArray[np.float32]]:
        info = self._where[name][1].info
        total = math.prod(info.shape)
        if total <= max_elements or len(info.shape) == 0:
            yield self.read_fp32(name)
            return
        rows = info.shape[0]
        row_elems = max(1, total // rows)
        n_rows = max(1, max_elements // row_elems)
        for r in np.linspace(0, rows - 1, num=min(rows, n_rows), dtype=np.int64):
            yield _to_fp32(self._raw(name, slice(int(r), int(r) + 1)), info.dtype)

    def close(self) -> None:
        # Arrays still viewing a map keep it alive; it is unmapped when the last one goes.
        self._maps = {}


def _to_fp32(
    arr: npt.NDArray[Any], dtype: str, out: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]:
    """A C-contiguous float32 copy of ``arr`` (never a view of the file), into ``out``."""
    if dtype == "BF16":
        # bfloat16 is the top half of a float32: widen the bits and shift them up.
        bits = copy_c(arr, np.uint32)
        bits <<= 16
        if out is None:
            return bits.view(np.float32)
        out[...] = bits.view(np.float32)
        return out
    return copy_c(arr, np.float32, out)
