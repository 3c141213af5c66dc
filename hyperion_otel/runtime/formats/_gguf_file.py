"""A GGUF file's header, metadata and tensor table, parsed straight from a memory map.

``gguf.GGUFReader`` builds numpy views for every part of every field: on a 50k-token
vocabulary (tokens and merges, ~150k strings) that took ~4 s here, longer than reading
the weights. This parser reads the same layout (GGUF v2/v3, either byte order) with
``struct`` into plain Python values, ~0.1 s for the same file, and hands tensor data out
as zero-copy views of the map. Every read is bounds-checked; a count that cannot fit in
the file is refused before anything is allocated for it.

Layout: magic ``GGUF``, u32 version, u64 tensor count, u64 metadata count; metadata as
(string key, u32 type, value); tensor infos as (string name, u32 n_dims, u64 dims in GGML
order, u32 ggml type, u64 offset); tensor data from the next multiple of
``general.alignment`` (default 32). Strings are u64 length + UTF-8 bytes.
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GGUFFile", "GGUFFormatError", "TensorEntry"]

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 8

# ggml type -> (name, elements per block, bytes per block); names as in the gguf package.
_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# Metadata value types: code -> struct format of a scalar (8 string, 9 array).
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_NP_SCALARS = {0: "u1", 1: "i1", 2: "u2", 3: "i2", 4: "u4", 5: "i4", 6: "f4", 10: "u8", 11: "i8"}
_NP_SCALARS[12] = "f8"
_STRING, _ARRAY, _BOOL = 8, 9, 7
_STRUCTS: dict[str, struct.Struct] = {}


class GGUFFormatError(ValueError):
    """The bytes are not a well-formed GGUF file; the message says where and why."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    ggml_type: int
    type_name: str  # "F32", "Q8_0", ... or "type<N>" for a code this table does not know
    dims: tuple[int, ...]  # GGML order (fastest-varying first)
    start: int  # absolute byte offset in the file
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy (row-major) order."""
        return tuple(reversed(self.dims))


class _Malformed:
    """Stands in for a metadata value that failed to decode (read back as absent)."""


_MALFORMED = _Malformed()


class GGUFFile:
    """Parse ``path``; ``GGUFFormatError`` (or ``OSError``) when it cannot be read."""

    def __init__(self, path: str | Path) -> None:
        with open(path, "rb") as fh:
            try:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as exc:  # empty file
                raise GGUFFormatError(f"cannot map the file: {exc}") from None
        self._size = len(self._mm)
        self._pos = 0
        self.byteorder = "<"
        self.version = 0
        self.fields: dict[str, Any] = {}
        self.tensors: list[TensorEntry] = []
        try:
            self._parse()
        except struct.error as exc:
            raise GGUFFormatError(f"truncated at byte {self._pos}: {exc}") from None

    # --- public -----------------------------------------------------------------------
    def field(self, key: str) -> Any:
        """Value of metadata ``key`` (arrays as lists), or ``None`` when absent or malformed."""
        value = self.fields.get(key)
        return None if value is _MALFORMED else value

    def raw(self, entry: TensorEntry, dtype: npt.DTypeLike, count: int, offset: int = 0) -> Any:
        """``count`` items of ``dtype`` from ``entry``'s data, ``offset`` bytes in: a view."""
        return np.frombuffer(self._mm, dtype=dtype, count=count, offset=entry.start + offset)

    def close(self) -> None:
        # Views handed out keep the map alive; it is unmapped when the last one goes.
        self.fields = {}
        self.tensors = []

    # --- parsing ----------------------------------------------------------------------
    def _take(self, fmt: str) -> Any:
        s = _STRUCTS.get(self.byteorder + fmt)
        if s is None:
            s = _STRUCTS[self.byteorder + fmt] = struct.Struct(self.byteorder + fmt)
        (v,) = s.unpack_from(self._mm, self._pos)
        self._pos += s.size
        return v

    def _count(self, min_item_bytes: int, what: str) -> int:
        n: int = self._take("Q")
        if n * min_item_bytes > self._size - self._pos:
            raise GGUFFormatError(
                f"{what} count {n} at byte {self._pos - 8} cannot fit in a {self._size}-byte file"
            )
        return n

    def _bytes(self) -> bytes:
        n = self._count(1, "string length")
        b = self._mm[self._pos : self._pos + n]
        self._pos += n
        return b

    def _str(self) -> str:
        """A key or tensor name: invalid UTF-8 makes the file unreadable."""
        at = self._pos
        try:
            return self._bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFFormatError(f"string at byte {at} is not UTF-8: {exc}") from None

    def _parse(self) -> None:
        if self._mm[:4] != MAGIC:
            raise GGUFFormatError(f"bad magic {self._mm[:4]!r} (expected {MAGIC!r})")
        (le,) = struct.unpack_from("<I", self._mm, 4)
        (be,) = struct.unpack_from(">I", self._mm, 4)
        # A big-endian file reads as a huge version number in little-endian and vice versa.
        self.byteorder = "<" if le < 0x10000 or be >= 0x10000 else ">"
        self._pos = 4
        self.version = self._take("I")
        if self.version < 2:
            # v1 used 32-bit counts; it is refused by the caller by version, not misread.
            self.fields["GGUF.version"] = self.version
            return
        n_tensors = self._count(4 + 8 + 4 + 4 + 8, "tensor")
        n_kv = self._count(8 + 4 + 1, "metadata")
        self.fields["GGUF.version"] = self.version
        for _ in range(n_kv):
            key = self._str()
            vtype: int = self._take("I")
            self.fields[key] = self._value(vtype, key)
        infos = [self._tensor_info() for _ in range(n_tensors)]
        align = self.field("general.alignment")
        if align is None:
            align = DEFAULT_ALIGNMENT
        if not isinstance(align, int) or isinstance(align, bool) or align <= 0:
            raise GGUFFormatError(f"general.alignment is {align!r}, expected a positive integer")
        data = -(-self._pos // align) * align
        for name, dims, gtype, offset in infos:
            self.tensors.append(self._entry(name, dims, gtype, data + offset))

    def _value(self, vtype: int, key: str) -> Any:
        if vtype == _STRING:
            try:
                return self._bytes().decode("utf-8")
            except UnicodeDecodeError:
                return _MALFORMED
        if vtype == _ARRAY:
            return self._array(key)
        fmt = _SCALARS.get(vtype)
        if fmt is None:
            raise GGUFFormatError(f"metadata {key!r} has unknown value type {vtype}")
        return self._take(fmt)

    def _array(self, key: str) -> Any:
        etype: int = self._take("I")
        if etype == _STRING:
            n = self._count(8, "array")
            return self._strings(n)
        if etype == _ARRAY:
            n = self._count(4 + 8, "array")
            items = [self._array(key) for _ in range(n)]
            return _MALFORMED if any(i is _MALFORMED for i in items) else items
        np_code = _NP_SCALARS.get(etype)
        if np_code is None and etype != _BOOL:
            raise GGUFFormatError(f"metadata {key!r} is an array of unknown type {etype}")
        code = np_code or "u1"
        item = np.dtype(code).itemsize
        n = self._count(item, "array")
        arr = np.frombuffer(self._mm, dtype=self.byteorder + code, count=n, offset=self._pos)
        self._pos += n * item
        return arr.astype(bool).tolist() if etype == _BOOL else arr.tolist()

    def _strings(self, n: int) -> Any:
        mm, pos, size = self._mm, self._pos, self._size
        length = struct.Struct(self.byteorder + "Q").unpack_from
        out: list[str] = []
        append = out.append
        bad = False
        for _ in range(n):
            (ln,) = length(mm, pos)
            pos += 8
            if ln > size - pos:
                self._pos = pos
                raise GGUFFormatError(f"string of {ln} bytes at byte {pos} runs past the end")
            try:
                append(mm[pos : pos + ln].decode("utf-8"))
            except UnicodeDecodeError:
                bad = True
            pos += ln
        self._pos = pos
        return _MALFORMED if bad else out

    def _tensor_info(self) -> tuple[str, tuple[int, ...], int, int]:
        name = self._str()
        n_dims: int = self._take("I")
        if n_dims > MAX_DIMS:
            raise GGUFFormatError(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        dims = tuple(int(self._take("Q")) for _ in range(n_dims))
        gtype: int = self._take("I")
        offset: int = self._take("Q")
        return name, dims, gtype, offset

    def _entry(self, name: str, dims: tuple[int, ...], gtype: int, start: int) -> TensorEntry:
        tname, block, size = _TYPES.get(gtype, (f"type{gtype}", 0, 0))
        n = math.prod(dims)
        if block:
            if dims and dims[0] % block:
                raise GGUFFormatError(
                    f"tensor {name!r} of type {tname} has rows of {dims[0]} values, "
                    f"not a multiple of its block of {block}"
                )
            nbytes = n // block * size
        else:
            nbytes = 0
        if start + nbytes > self._size:
            raise GGUFFormatError(
                f"tensor {name!r} ({nbytes} bytes at byte {start}) runs past the end of "
                f"the {self._size}-byte file"
            )
        return TensorEntry(name, gtype, tname, dims, start, nbytes)
