"""Where a converted dataset goes, and the checks made before anything is written.

``$nnUNet_raw/DatasetXXX_Name`` and ``$nnUNet_preprocessed/DatasetXXX_Name/splits_final.json``.
A dataset id used by another dataset name (in nnUNet_raw, nnUNet_preprocessed or
nnUNet_results) is an error, and an existing dataset is only replaced with ``overwrite=True``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from nnunetv2_tmca.dataset_conversion.common import ConversionError

SPLITS_FILENAME = "splits_final.json"


@dataclass(frozen=True)
class Destination:
    """The folders and files one conversion writes (``preprocessed_root`` None: a raw dataset only)."""
    folder_name: str  # DatasetXXX_Name
    raw_root: str
    preprocessed_root: Optional[str] = None

    @property
    def raw_dir(self) -> str:
        return os.path.join(self.raw_root, self.folder_name)

    @property
    def preprocessed_dir(self) -> str:
        return os.path.join(self.preprocessed_root, self.folder_name)

    @property
    def splits_file(self) -> str:
        return os.path.join(self.preprocessed_dir, SPLITS_FILENAME)


def nnunet_root(explicit: Optional[str], env: str, required: bool = True) -> Optional[str]:
    """``explicit``, else the environment variable ``env`` (else nnU-Net's own value for it)."""
    if explicit:
        return os.path.abspath(os.fspath(explicit))
    value = os.environ.get(env)
    if not value:
        try:
            import nnunetv2.paths as p
            value = getattr(p, env, None)
        except Exception:  # pragma: no cover - nnunetv2 always installed
            value = None
    if not value:
        if required:
            raise ConversionError(f"The environment variable {env} is not set (nnU-Net needs it to know "
                                  f"where datasets live).")
        return None
    return os.path.abspath(value)


def dataset_folder_name(dataset_id: int, name: str) -> str:
    try:
        did = int(dataset_id)
    except (TypeError, ValueError):
        raise ConversionError(f"Dataset id must be an integer, got {dataset_id!r}") from None
    if not 1 <= did <= 999:
        raise ConversionError(f"Dataset id must be between 1 and 999, got {did}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", str(name)):
        raise ConversionError(f"Dataset name {name!r} may only contain letters, digits, '_' and '-'")
    return f"Dataset{did:03d}_{name}"


def _check_id_unused(folder_name: str, roots: Sequence[Optional[str]]) -> None:
    prefix = folder_name.split("_", 1)[0] + "_"
    for root in roots:
        if root and os.path.isdir(root):
            others = [d for d in sorted(os.listdir(root))
                      if d.startswith(prefix) and d != folder_name and os.path.isdir(os.path.join(root, d))]
            if others:
                raise ConversionError(
                    f"Dataset id {prefix[len('Dataset'):-1]} is already used by {os.path.join(root, others[0])}; "
                    f"nnU-Net needs ids to be unique. Choose another -d or remove that folder.")


def _check_not_existing(raw_dir: str, splits_file: Optional[str]) -> None:
    if os.path.isdir(raw_dir) and os.listdir(raw_dir):
        raise ConversionError(f"{raw_dir} already exists and is not empty; nothing was changed. "
                              f"Pass --overwrite (overwrite=True) to replace it.")
    if splits_file and os.path.exists(splits_file):
        raise ConversionError(f"{splits_file} already exists; nothing was changed. "
                              f"Pass --overwrite (overwrite=True) to replace it.")


def check_destination_of(dataset_id: int, name: str, overwrite: bool = False, raw_root: Optional[str] = None,
                         preprocessed_root: Optional[str] = None) -> Destination:
    """The :class:`Destination`; ConversionError if the id is taken or (without ``overwrite``) it exists."""
    raw = nnunet_root(raw_root, "nnUNet_raw")
    pre = nnunet_root(preprocessed_root, "nnUNet_preprocessed")
    dest = Destination(dataset_folder_name(dataset_id, name), raw, pre)
    _check_id_unused(dest.folder_name, (dest.raw_root, dest.preprocessed_root,
                                        nnunet_root(None, "nnUNet_results", required=False)))
    if not overwrite:
        _check_not_existing(dest.raw_dir, dest.splits_file)
    return dest


def check_raw_destination(dataset_id: int, name: str, raw_root: str, overwrite: bool = False) -> Destination:
    """The :class:`Destination` of a dataset written to ``raw_root`` only (no splits file, e.g. the synthetic
    generator); ConversionError if the id is taken there or (without ``overwrite``) the dataset exists."""
    dest = Destination(dataset_folder_name(dataset_id, name), os.path.abspath(os.fspath(raw_root)))
    _check_id_unused(dest.folder_name, (dest.raw_root,))
    if not overwrite:
        _check_not_existing(dest.raw_dir, None)
    return dest


def check_destination(dataset_id: int, name: str, overwrite: bool = False, raw_root: Optional[str] = None,
                      preprocessed_root: Optional[str] = None) -> str:
    """Fail early (before reading the source) if the target exists; returns the raw dataset folder path."""
    return check_destination_of(dataset_id, name, overwrite, raw_root, preprocessed_root).raw_dir
