"""Reading and writing the directory file: an uncompressed ``.npz`` of plain arrays.

Members are stored uncompressed so that :func:`load_arrays` can memory-map them
straight out of the zip: opening costs a few page faults instead of a 50 MB copy,
and several worker processes share one copy in the page cache.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

META_MEMBER = "meta"

# ZIP local file header: signature, version, flags, method, time, date, crc, sizes,
# name length, extra length (APPNOTE 4.3.7); the member's data follows name + extra.
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_HEADER_SIGNATURE = 0x04034B50


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Atomically write ``arrays`` plus a JSON ``meta`` record to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(arrays)
    payload[META_MEMBER] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    # Write next to the target then rename, so readers (other workers) never see
    # a half-written file and concurrent builders cannot interleave.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **payload)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _member_data_offset(handle: Any, info: zipfile.ZipInfo) -> int:
    handle.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    if fields[0] != _LOCAL_HEADER_SIGNATURE:
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_length, extra_length = fields[9], fields[10]
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _read_npy_header(handle: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"unsupported .npy version {version}")


def load_arrays(path: Path, *, mmap: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return the arrays and the meta record stored at ``path``.

    With ``mmap`` the arrays are read-only memory maps into the file; members that
    cannot be mapped (compressed, object dtype) are read normally.
    """
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if mmap and info.compress_type == zipfile.ZIP_STORED:
                handle.seek(_member_data_offset(handle, info))
                shape, fortran_order, dtype = _read_npy_header(handle)
                if not dtype.hasobject and not fortran_order and int(np.prod(shape)) > 0:
                    arrays[name] = np.memmap(
                        path, dtype=dtype, mode="r", offset=handle.tell(), shape=shape
                    )
                    continue
            with archive.open(info) as member:
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    meta_bytes = arrays.pop(META_MEMBER, None)
    if meta_bytes is None:
        raise ValueError("no meta record")
    meta = json.loads(np.asarray(meta_bytes, dtype=np.uint8).tobytes().decode("utf-8"))
    return arrays, meta
