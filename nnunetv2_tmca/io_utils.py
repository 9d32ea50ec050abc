"""File and folder helpers shared by caches, results and the CLIs: atomic writes, path comparisons, nnU-Net
dataset folders."""
from __future__ import annotations

import json
import os
import tempfile

AGREEMENT_FILE = "agreement.json"  # written by nnUNetv2_predict_tmca --agreement, read by nnUNetv2_tmca_evaluate


def read_agreement_file(path: str) -> dict:
    """The records of an agreement.json (case id -> record); OSError or ValueError if it is not a JSON object."""
    with open(path) as f:
        records = json.load(f)
    if not isinstance(records, dict):
        raise ValueError("not a JSON object")
    return records


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


def atomic_write_json(obj, path, indent: int = 2) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically.

    ``obj`` is serialized completely first; the bytes then go to a temporary file in the
    same folder (flushed, fsynced) that ``os.replace`` moves over ``path``. A failure at any
    point leaves an existing ``path`` untouched and no temporary file behind.
    """
    data = json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8")
    atomic_write_bytes(data + b"\n", os.fspath(path))


def find_raw_dataset_folder(dataset_name_or_id) -> str:
    """``$nnUNet_raw/DatasetXXX_Name`` for a dataset name or id; FileNotFoundError if absent."""
    from nnunetv2.paths import nnUNet_raw
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    if not nnUNet_raw:
        raise RuntimeError("The environment variable nnUNet_raw is not set; cannot locate raw datasets.")
    name = maybe_convert_to_dataset_name(dataset_name_or_id)
    folder = os.path.join(os.fspath(nnUNet_raw), name)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Raw dataset folder not found: {folder} (check nnUNet_raw)")
    return folder


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
