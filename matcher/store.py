"""An index saved to one file and mapped back into memory, so that processes share it.

:func:`save_index` writes a built :class:`~matcher.index.Index` to a file: a short header,
the pickled Python part of the index, then each numpy array's bytes, aligned. :func:`load_index`
maps the file read-only and rebuilds the index around the mapped bytes without copying
them: loading costs the unpickling of the Python part (vocabulary, dictionaries), not
the build, and every process that loads the same file shares its pages through the
operating system's page cache.

The file is trusted like code: unpickling it can run code, so it must be written only by
this program, into a directory nobody else can write to. A file written by other code or
for other data is refused by its ``fingerprint`` (the caller's choice: a digest of the
code and the data version), and any damage is an :class:`IndexFileError`.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import pickle
from pathlib import Path
from typing import Any

from .index import Index

__all__ = ["IndexFileError", "load_index", "save_index"]

MAGIC = b"FMINDEX1"
ALIGN_BYTES = 64  # each array starts on a cache line, as numpy would allocate it
_HEADER_LENGTH_BYTES = 8


class IndexFileError(ValueError):
    """The file is not an index this code wrote for this fingerprint, or is damaged."""


def save_index(index: Index, path: str | os.PathLike[str], *, fingerprint: str) -> int:
    """Write ``index`` to ``path`` (replaced whole: written beside it, then renamed, so a
    reader never sees half a file); return the file's size in bytes."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(index, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    header = json.dumps({
        "fingerprint": fingerprint,
        "payload": len(payload),
        "buffers": [v.nbytes for v in views],
    }).encode()
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as out:
            out.write(MAGIC)
            out.write(len(header).to_bytes(_HEADER_LENGTH_BYTES, "little"))
            out.write(header)
            out.write(payload)
            for view in views:
                out.write(b"\0" * (-out.tell() % ALIGN_BYTES))
                out.write(view)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return size


def load_index(path: str | os.PathLike[str], *, fingerprint: str) -> Index:
    """The index saved at ``path``, its arrays read-only views of the mapped file.

    :raise IndexFileError: the file is not an index file, was written for another
        fingerprint, or is truncated or damaged.
    :raise OSError: it cannot be opened.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < len(MAGIC) + _HEADER_LENGTH_BYTES:
            raise IndexFileError(f"{path} is too short to be an index file")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _read(mapped, fingerprint, str(path))
    except IndexFileError:
        raise
    except Exception as error:  # a damaged payload can fail in many ways
        raise IndexFileError(f"{path} is damaged: {type(error).__name__}: {error}") from None


def _read(mapped: mmap.mmap, fingerprint: str, name: str) -> Index:
    view = memoryview(mapped)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise IndexFileError(f"{name} is not an index file")
    at = len(MAGIC)
    length = int.from_bytes(view[at:at + _HEADER_LENGTH_BYTES], "little")
    at += _HEADER_LENGTH_BYTES
    header: dict[str, Any] = json.loads(bytes(view[at:at + length]))
    at += length
    if header.get("fingerprint") != fingerprint:
        raise IndexFileError(f"{name} was written for other code or data")
    payload = view[at:at + header["payload"]]
    at += header["payload"]
    buffers = []
    for nbytes in header["buffers"]:
        at += -at % ALIGN_BYTES
        if at + nbytes > len(view):
            raise IndexFileError(f"{name} is truncated")
        buffers.append(view[at:at + nbytes])
        at += nbytes
    if at != len(view):
        raise IndexFileError(f"{name} has {len(view) - at} bytes too many")
    index = pickle.Unpickler(io.BytesIO(payload), buffers=buffers).load()
    if not isinstance(index, Index):
        raise IndexFileError(f"{name} holds a {type(index).__name__}, not an index")
    index._mapped = mapped  # the arrays point into it: it lives as long as the index
    return index
