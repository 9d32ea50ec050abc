"""The LViT layout (HUANGLIZI/LViT: QaTa-COV19, MosMedData+, MoNuSeg): reader and converter.

Layout: ``{Train,Val,Test}_Folder/img/<name>.*``, ``labelcol/mask_<name>.*`` (QaTa-COV19,
MosMedData+) or ``labelcol/<name>.*`` (MoNuSeg), and in each folder its ``Train_text.xlsx``
(``Val_``, ``Test_``; or the only ``.xlsx`` there) with the columns ``Image`` and
``Description``. Images, masks and xlsx rows are matched by file stem, so ``x.tif`` pairs
with ``x.png``. Missing folders are skipped (e.g. only ``Val_Folder``).

:func:`list_lvit` is the one reader of this layout; :func:`convert_lvit` converts a dataset
that exists only in it, described by an :class:`LVitDataset` (see ``mosmed.py``, ``monuseg.py``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

from nnunetv2_tmca.dataset_conversion.cases import (
    Case,
    Problems,
    list_image_files,
    sanitize_case_id,
    strip_image_extension,
)
from nnunetv2_tmca.dataset_conversion.common import ConversionError, info, warn
from nnunetv2_tmca.dataset_conversion.destination import check_destination
from nnunetv2_tmca.dataset_conversion.raw_dataset import write_dataset

LVIT_FOLDERS = {"train": "Train_Folder", "val": "Val_Folder", "test": "Test_Folder"}
MASK_PREFIX = "mask_"


# ----------------------------------------------------------------------------------------
# reader
# ----------------------------------------------------------------------------------------
def read_text_xlsx(path: str, problems: Problems) -> Dict[str, str]:
    """Rows of an LViT ``*_text.xlsx`` (columns ``Image``, ``Description``) -> file stem -> text.

    The ``Image`` cell may name the image (``x.png``), the mask (``mask_x.png``) or carry another
    extension (``.png`` for a ``.tif`` image): keys are stems, matched later. Empty description
    cells give empty reports (a problem later); a stem listed twice with different texts is a problem.
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise ConversionError(f"Cannot read {path}: {type(e).__name__}") from None
    try:
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    if not rows:
        raise ConversionError(f"{path} is empty (expected columns 'Image' and 'Description')")
    header = [str(h).strip().casefold() if h is not None else "" for h in rows[0]]
    if "image" not in header or "description" not in header:
        raise ConversionError(f"{path}: first row must name the columns 'Image' and 'Description' "
                              f"(found {len(header)} columns without them)")
    ci, cd = header.index("image"), header.index("description")
    texts: Dict[str, str] = {}
    conflicting, repeated = set(), 0
    for row in rows[1:]:
        if row is None or ci >= len(row) or row[ci] is None or not str(row[ci]).strip():
            continue
        key = strip_image_extension(str(row[ci]))
        text = row[cd] if cd < len(row) else None
        text = "" if text is None else str(text)
        if key in texts:
            if texts[key].strip() != text.strip():
                conflicting.add(key)
            else:
                repeated += 1
            continue
        texts[key] = text
    if repeated:
        warn(f"{path}: {repeated} rows repeat an earlier row with the same text (kept once)")
    problems.add(f"different texts for one image in {os.path.basename(path)}", sorted(conflicting))
    for k in conflicting:
        texts.pop(k, None)
    return texts


def find_text_xlsx(folder: str, split: str) -> Optional[str]:
    """``<Split>_text.xlsx`` in ``folder``, else its only ``.xlsx``; None if there is none."""
    base = LVIT_FOLDERS[split].split("_")[0]  # Train / Val / Test
    exact = os.path.join(folder, f"{base}_text.xlsx")
    if os.path.isfile(exact):
        return exact
    cands = sorted(f for f in os.listdir(folder) if f.lower().endswith(".xlsx") and not f.startswith("~$"))
    if len(cands) == 1:
        return os.path.join(folder, cands[0])
    if len(cands) > 1:
        raise ConversionError(f"{folder}: expected {base}_text.xlsx, found several xlsx files: {', '.join(cands)}")
    return None


def _first_key(keys, table: Mapping[str, str], used: set) -> Optional[str]:
    """``table`` value of the first of ``keys`` present in it (recorded in ``used``), else None."""
    for key in keys:
        if key in table:
            used.add(key)
            return table[key]
    return None


def _list_split_folder(source: str, split: str, problems: Problems) -> List[Case]:
    """Cases of one ``*_Folder``: images paired with masks and xlsx rows by stem."""
    sub = LVIT_FOLDERS[split]
    folder = os.path.join(source, sub)
    img_dir, lab_dir = os.path.join(folder, "img"), os.path.join(folder, "labelcol")
    if not os.path.isdir(img_dir):
        raise ConversionError(f"{folder} has no img/ subfolder")
    images = list_image_files(img_dir)
    masks = list_image_files(lab_dir) if os.path.isdir(lab_dir) else {}
    if not os.path.isdir(lab_dir):
        warn(f"{folder} has no labelcol/ subfolder")
    xlsx = find_text_xlsx(folder, split)
    if xlsx is None:
        warn(f"{folder} has no *_text.xlsx: its images have no reports")
        texts = {}
    else:
        texts = read_text_xlsx(xlsx, problems)

    cases: List[Case] = []
    used_masks, used_texts = set(), set()
    for stem in sorted(images):
        mask = _first_key((MASK_PREFIX + stem, stem), masks, used_masks)
        report = _first_key((stem, MASK_PREFIX + stem), texts, used_texts)
        cases.append(Case(sanitize_case_id(stem), split, images[stem], mask, report,
                          source_name=os.path.relpath(images[stem], source)))

    def orphan(key):  # mask_x / x without an image x
        s = key[len(MASK_PREFIX):] if key.startswith(MASK_PREFIX) and key not in images else key
        return s not in images

    problems.add(f"mask without image in {sub}/labelcol", sorted(k for k in masks if k not in used_masks
                                                                  and orphan(k)))
    problems.add(f"report without image in {os.path.basename(xlsx) if xlsx else sub}",
                 sorted(k for k in texts if k not in used_texts and orphan(k)))
    info(f"{sub}: {len(images)} images, {len(masks)} masks, {len(texts)} reports")
    return cases


def list_lvit(source: str, problems: Problems) -> List[Case]:
    """Cases of an LViT-layout source (see the module docstring)."""
    if not os.path.isdir(source):
        raise ConversionError(f"Source folder not found: {source}")
    splits = [split for split, sub in LVIT_FOLDERS.items() if os.path.isdir(os.path.join(source, sub))]
    if not splits:
        raise ConversionError(f"{source} has none of {', '.join(LVIT_FOLDERS.values())} (LViT layout)")
    return [case for split in splits for case in _list_split_folder(source, split, problems)]


# ----------------------------------------------------------------------------------------
# converter of the datasets that exist only in this layout
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LVitDataset:
    """What the nnU-Net dataset of an LViT-only source says about it."""
    title: str  # in messages and dataset.json "source": "MoNuSeg", "MosMedData+"
    default_name: str  # DatasetXXX_<default_name> unless --name is given
    target: str  # label 1
    channel_names: Dict[str, str]
    rgb: bool  # one 3-channel RGB PNG per case, else 1-channel grey
    laterality: str  # what "left"/"right" in the reports refer to
    description: str
    reference: str


def convert_lvit(dataset: LVitDataset, source: str, dataset_id: int, layout: str = "lvit",
                 name: Optional[str] = None, overwrite: bool = False, max_cases: Optional[int] = None,
                 resize: Optional[int] = None, skip_missing: bool = False, raw_root: Optional[str] = None,
                 preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Convert an LViT-layout copy of ``dataset``; returns the raw dataset folder."""
    source = os.path.abspath(os.fspath(source))
    if layout not in (None, "auto", "lvit"):
        raise ConversionError(f"{dataset.title} is only supported in the 'lvit' layout, not {layout!r}")
    name = name or dataset.default_name
    check_destination(dataset_id, name, overwrite, raw_root, preprocessed_root)
    problems = Problems()
    cases = list_lvit(source, problems)
    return write_dataset(
        cases, problems=problems, dataset_id=dataset_id, name=name, rgb=dataset.rgb, target=dataset.target,
        channel_names=dataset.channel_names, source=f"{dataset.title} (lvit layout)", layout="lvit",
        overwrite=overwrite, resize=resize, max_cases=max_cases, skip_missing=skip_missing,
        laterality=dataset.laterality, description=dataset.description, reference=dataset.reference,
        raw_root=raw_root, preprocessed_root=preprocessed_root, progress=progress)
