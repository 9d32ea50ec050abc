"""Listing a source: one :class:`Case` per image, case ids, image files, and the problems found.

Each converter only *lists* its source: it builds one :class:`Case` per image (case id,
split, image file, mask file, report text) and records mismatches (an image without mask,
a report without image, ...) in a :class:`Problems`; :func:`~.raw_dataset.write_dataset`
does the rest.

Case ids are the source file names without extension, sanitized: every run of characters
other than letters, digits, ``-`` and ``_`` becomes ``_`` (``"a b.c"`` -> ``"a_b_c"``).
Ids that end in ``_dddd`` (``covid_0001``) are kept as they are: nnU-Net strips the
channel suffix by position (``covid_0001_0000.png`` -> ``covid_0001``), so they are
unambiguous, and keeping them lets the ids match published split lists.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

from nnunetv2_tmca.dataset_conversion.common import ConversionError, ids_text, warn

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class Case:
    """One image of the source. ``case_id`` is set by the converter (sanitized)."""
    case_id: str
    split: str  # "train" | "val" | "test"
    image: str
    mask: Optional[str]
    report: Optional[str] = field(default=None, repr=False)  # never shown in repr (patient data)
    source_name: str = ""


class Problems:
    """Collects mismatches by kind (``"image without mask"`` -> ids)."""

    def __init__(self):
        self.items: Dict[str, List[str]] = {}

    def add(self, kind: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.items.setdefault(kind, []).extend(ids)

    def __bool__(self):
        return bool(self.items)

    def all_ids(self) -> set:
        return set().union(*self.items.values()) if self.items else set()

    def describe(self) -> str:
        return "\n".join(f"  - {kind}: {ids_text(set(ids))}" for kind, ids in self.items.items())

    def raise_or_warn(self, skip_missing: bool, where: str) -> None:
        """Without ``skip_missing`` raise a ConversionError listing every problem; else warn."""
        if not self.items:
            return
        if not skip_missing:
            raise ConversionError(f"{where}: missing or mismatched files/reports:\n{self.describe()}\n"
                                  f"Fix the source, or pass --skip_missing (skip_missing=True) to leave "
                                  f"these cases out.")
        warn(f"{where}: leaving out cases with missing or mismatched files/reports (--skip_missing):\n"
             f"{self.describe()}")


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-]+")


def sanitize_case_id(name: str) -> str:
    """File stem -> nnU-Net case id: runs of characters other than ``[A-Za-z0-9_-]`` become ``_``."""
    cid = _BAD_CHARS.sub("_", str(name).strip()).strip("_")
    if not cid:
        raise ConversionError(f"Cannot build a case id from the file name {name!r}")
    return cid


def strip_image_extension(name: str) -> str:
    """``"x.png"`` -> ``"x"``; a name without an image extension is kept (stripped of blanks)."""
    base, ext = os.path.splitext(str(name).strip())
    return base if ext.lower() in IMAGE_EXTENSIONS else str(name).strip()


def list_image_files(folder: str) -> Dict[str, str]:
    """stem -> path of the image files in ``folder`` (ConversionError on two files with one stem)."""
    out: Dict[str, str] = {}
    dup = set()
    for f in sorted(os.listdir(folder)):
        p = os.path.join(folder, f)
        stem, ext = os.path.splitext(f)
        if f.startswith(".") or ext.lower() not in IMAGE_EXTENSIONS or not os.path.isfile(p):
            continue
        if stem in out:
            dup.add(stem)
        out[stem] = p
    if dup:
        raise ConversionError(f"{folder}: several image files share one name with different extensions: "
                              f"{ids_text(dup)}")
    return out
