"""QaTa-COV19 (chest X-ray, COVID-19 infection) with the LViT reports -> nnU-Net raw dataset.

Two source layouts:

* ``prolearn`` (ShuchangYe-bib/ProLearn): ``images/<case>.png``, ``masks/<case>.png`` (0/255),
  ``reports/<case>.txt`` and ``split.json`` with ``train``/``val`` (and, if present, ``test``)
  lists of case ids. Ids listed twice in one split are de-duplicated with a warning (the
  published ``train`` list has 3 such ids).
* ``lvit`` (HUANGLIZI/LViT): ``{Train,Val,Test}_Folder/img/<name>.png``,
  ``labelcol/mask_<name>.png``, ``Train_text.xlsx`` etc. (columns ``Image``, ``Description``).

train + val -> imagesTr (fold 0 of splits_final.json = official train/val), test -> imagesTs.
Images are 8-bit grey PNG. Left/right in these reports is the side of the IMAGE (checked on
the data, documentation/reports_in_practice.md: "left lung" masks lie in the image's left half), so dataset.json says
``"report_axes": {"left_right": 1, "upper_lower": 0}`` and ``"laterality": "image"``.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import List, Optional

from nnunetv2_tmca.dataset_conversion.cases import Case, Problems, list_image_files, sanitize_case_id
from nnunetv2_tmca.dataset_conversion.common import SPLITS, ConversionError, ids_text, info, warn
from nnunetv2_tmca.dataset_conversion.destination import check_destination
from nnunetv2_tmca.dataset_conversion.lvit import LVIT_FOLDERS, list_lvit
from nnunetv2_tmca.dataset_conversion.raw_dataset import write_dataset

DEFAULT_NAME = "QaTaCOV19"
TARGET = "infection"
CHANNEL_NAMES = {"0": "XRay"}  # any name but "CT" -> nnU-Net z-score normalization


def detect_layout(source: str) -> str:
    if os.path.isfile(os.path.join(source, "split.json")) and os.path.isdir(os.path.join(source, "images")):
        return "prolearn"
    if any(os.path.isdir(os.path.join(source, d)) for d in LVIT_FOLDERS.values()):
        return "lvit"
    raise ConversionError(f"{source}: cannot tell the layout (expected split.json + images/ for 'prolearn' "
                          f"or Train_Folder/Val_Folder/Test_Folder for 'lvit')")


def _read_report(path: str) -> Optional[str]:
    with open(path, "rb") as f:
        raw = f.read()
    return raw.decode("utf-8-sig")


def list_prolearn(source: str, problems: Problems) -> List[Case]:
    """Cases of the ProLearn layout (see module docstring)."""
    split_file = os.path.join(source, "split.json")
    try:
        with open(split_file, "r", encoding="utf-8-sig") as f:
            split = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConversionError(f"Cannot read {split_file}: {type(e).__name__}") from None
    if not isinstance(split, dict) or not any(k in split for k in SPLITS):
        raise ConversionError(f"{split_file} must be an object with 'train', 'val' (and optionally 'test') lists")
    other = [k for k in split if k not in SPLITS]
    if other:
        warn(f"{split_file}: ignoring keys {other}")
    for sub in ("images", "masks", "reports"):
        if not os.path.isdir(os.path.join(source, sub)):
            raise ConversionError(f"{source} has no {sub}/ folder (ProLearn layout)")
    images = list_image_files(os.path.join(source, "images"))
    masks = list_image_files(os.path.join(source, "masks"))
    rep_dir = os.path.join(source, "reports")
    reports = {os.path.splitext(f)[0]: os.path.join(rep_dir, f) for f in sorted(os.listdir(rep_dir))
               if f.endswith(".txt") and not f.startswith(".")}

    listed = {}
    for s in SPLITS:
        ids = split.get(s)
        if ids is None:
            continue
        if not isinstance(ids, list):
            raise ConversionError(f"{split_file}: '{s}' must be a list of case ids")
        ids = [str(i) for i in ids]
        counts = Counter(ids)
        dups = sorted(i for i, n in counts.items() if n > 1)
        if dups:
            warn(f"{split_file}: '{s}' lists {len(dups)} ids more than once "
                 f"({sum(counts[i] - 1 for i in dups)} extra entries, de-duplicated): {ids_text(dups)}")
        listed[s] = list(dict.fromkeys(ids))
    split_of = {}
    in_two = set()
    for s, ids in listed.items():
        for i in ids:
            if i in split_of:
                in_two.add(i)
            split_of.setdefault(i, s)
    problems.add("listed in more than one split of split.json", sorted(in_two))
    problems.add("listed in split.json but no image in images/", sorted(i for i in split_of if i not in images))

    cases = []
    unreadable = []
    for s, ids in listed.items():
        for i in ids:
            if i not in images or i in in_two:
                continue
            text = None
            if i in reports:
                try:
                    text = _read_report(reports[i])
                except (OSError, UnicodeDecodeError):
                    unreadable.append(i)
                    text = None
            cases.append(Case(sanitize_case_id(i), s, images[i], masks.get(i), text, source_name=f"images/{i}"))
    problems.add("report file is not readable UTF-8", unreadable)
    problems.add("mask without image", sorted(set(masks) - set(images)))
    problems.add("report without image", sorted(set(reports) - set(images)))
    unlisted = sorted(set(images) - set(split_of))
    if unlisted:
        warn(f"{len(unlisted)} images in {source}/images are in no split of split.json (ignored): "
             f"{ids_text(unlisted)}")
    info(f"{source}: {len(images)} images, {len(masks)} masks, {len(reports)} reports; split.json: "
         + ", ".join(f"{s} {len(v)}" for s, v in listed.items()))
    return cases


def convert_qata(source: str, dataset_id: int, layout: str = "auto", name: Optional[str] = None,
                 overwrite: bool = False, max_cases: Optional[int] = None, resize: Optional[int] = None,
                 skip_missing: bool = False, raw_root: Optional[str] = None,
                 preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Convert QaTa-COV19 (``layout``: "prolearn", "lvit" or "auto"); returns the raw dataset folder."""
    source = os.path.abspath(os.fspath(source))
    if not os.path.isdir(source):
        raise ConversionError(f"Source folder not found: {source}")
    layout = detect_layout(source) if layout in (None, "auto") else layout
    check_destination(dataset_id, name or DEFAULT_NAME, overwrite, raw_root, preprocessed_root)
    problems = Problems()
    if layout == "prolearn":
        cases = list_prolearn(source, problems)
    elif layout == "lvit":
        cases = list_lvit(source, problems)
    else:
        raise ConversionError(f"Unknown QaTa-COV19 layout {layout!r} (use 'prolearn' or 'lvit')")
    return write_dataset(
        cases, problems=problems, dataset_id=dataset_id, name=name or DEFAULT_NAME, rgb=False, target=TARGET,
        channel_names=CHANNEL_NAMES, source=f"QaTa-COV19 ({layout} layout)", layout=layout, overwrite=overwrite,
        resize=resize, max_cases=max_cases, skip_missing=skip_missing, laterality="image",
        description="QaTa-COV19 chest X-rays with COVID-19 infection masks and LViT text reports",
        reference="QaTa-COV19 (Qatar University / Tampere University); reports: Li et al., LViT, IEEE TMI 2023",
        raw_root=raw_root, preprocessed_root=preprocessed_root, progress=progress)
