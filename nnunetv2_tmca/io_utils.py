"""Small file helpers shared by caches and results: atomic writes, path comparisons."""
from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    The bytes go to a temporary file in the same folder, are flushed and fsynced, then
    ``os.replace`` moves them over ``path``. On any error the temporary file is removed
    and an existing ``path`` is left untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def replace_durably(tmp: str, path: str) -> None:
    """fsync the finished file ``tmp``, then ``os.replace`` it over ``path`` (atomic on one file system)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def same_path(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` name the same file or folder (symlinks and ``..`` resolved)."""
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


def is_inside(path: str, folder: str) -> bool:
    """True if ``path`` is ``folder`` or lies below it (symlinks resolved)."""
    path, folder = os.path.realpath(os.path.abspath(path)), os.path.realpath(os.path.abspath(folder))
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
