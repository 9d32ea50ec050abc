"""Shared machinery of the dataset converters (QaTa-COV19, MosMedData+, MoNuSeg, Kvasir-SEG).

Each converter only *lists* its source: it builds one :class:`Case` per image (case id,
split, image file, mask file, report text) and records problems (an image without mask,
a report without image, ...) in a :class:`Problems`. :func:`write_dataset` does the rest:

* ``$nnUNet_raw/DatasetXXX_Name/imagesTr/<case>_0000.png`` + ``labelsTr/<case>.png`` for the
  official train and val cases, ``imagesTs``/``labelsTs`` for the official test cases;
  grey images as 1-channel PNG, colour images as ONE 3-channel RGB PNG per case (nnU-Net's
  NaturalImage2DIO reads it as 3 channels; channel_names ``{"0": "R", "1": "G", "2": "B"}``
  as in nnU-Net's Dataset120_RoadSegmentation); masks as 0/1 uint8 PNG;
* ``dataset.json`` (nnU-Net's ``generate_dataset_json`` plus a ``"tmca"`` block),
  ``reports.json`` (case id -> report text, training AND test cases);
* ``$nnUNet_preprocessed/DatasetXXX_Name/splits_final.json``: 5 folds; fold 0 is the official
  train/val split and folds 1-4 are identical copies of it (so that whichever fold or
  ensemble of folds is trained, the official val cases are never trained on). Only when
  the source has no official train/val pair (e.g. the MoNuSeg sample with a Val_Folder
  only) it is nnU-Net's random 5-fold split (seed 12345) of all training cases.

The whole raw folder is written into a hidden staging folder next to it and moved into
place at the end, so a failed conversion never leaves a half-written dataset, and an
existing dataset is only replaced with ``overwrite=True``. JSON files are written
atomically (temporary file + ``os.replace``).

Case ids are the source file names without extension, sanitized: every run of characters
other than letters, digits, ``-`` and ``_`` becomes ``_`` (``"a b.c"`` -> ``"a_b_c"``).
Ids that end in ``_dddd`` (``covid_0001``) are kept as they are: nnU-Net strips the
channel suffix by position (``covid_0001_0000.png`` -> ``covid_0001``), so they are
unambiguous, and keeping them lets the ids match published split lists.

Reports are patient data: nothing here prints or logs report text; messages carry case
ids, file names and counts only.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
from PIL import Image

from nnunetv2_tmca.reports import REPORTS_FILENAME, atomic_write_json, format_ids

SPLITS = ("train", "val", "test")
N_FOLDS = 5
CROSSVAL_SEED = 12345
SUBSAMPLE_SEED = 0
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# 2D PNG: nnU-Net's patch axes are (H, W); "left/right" runs along W, "upper/lower" along H.
REPORT_AXES_2D = {"left_right": 1, "upper_lower": 0}
MAX_IDS_SHOWN = 20

__all__ = ["Case", "Problems", "ConversionError", "sanitize_case_id", "write_dataset", "build_splits",
           "load_image", "load_mask", "list_image_files", "list_lvit", "check_destination", "info", "warn"]


class ConversionError(RuntimeError):
    """A conversion problem; the message names folders, files and case ids, never report text."""


def info(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


def ids_text(ids: Iterable[str]) -> str:
    return format_ids(ids, limit=MAX_IDS_SHOWN)


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


# ----------------------------------------------------------------------------------------
# image I/O
# ----------------------------------------------------------------------------------------
class _Stats:
    def __init__(self):
        self.converted_mode: Dict[str, int] = {}
        self.thresholded = 0  # masks with values other than {0,1} / {0,255}
        self.empty_masks: List[str] = []


def load_image(path: str, rgb: bool, stats: Optional[_Stats] = None) -> np.ndarray:
    """(H, W) grey or (H, W, 3) uint8 RGB array. Grey 16-bit images stay uint16."""
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if rgb:
            if mode != "RGB":
                im = im.convert("RGB")
        elif mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im)
            if arr.dtype != np.uint8:
                if arr.min() >= 0 and arr.max() <= 255:
                    return arr.astype(np.uint8)
                if arr.min() >= 0 and arr.max() <= 65535:
                    return arr.astype(np.uint16)
                raise ConversionError(f"{path}: grey image with values outside 0..65535 is not supported")
            return arr
        elif mode != "L":
            im = im.convert("L")
        if stats is not None and mode != im.mode:
            key = f"{mode}->{im.mode}"
            stats.converted_mode[key] = stats.converted_mode.get(key, 0) + 1
        return np.asarray(im).copy()


def load_mask(path: str, stats: Optional[_Stats] = None) -> np.ndarray:
    """(H, W) uint8 0/1 mask. 0/1 masks are kept; anything else (0/255, JPEG noise) is ``> 127``.

    Colour masks: a pixel is foreground if any colour channel is > 127 (works for white and for
    coloured masks; for grey JPEG masks it equals thresholding the grey value). Palette masks
    whose indices are 0/1 are used as they are.
    """
    with Image.open(path) as im:
        im.load()
        if im.mode == "P":
            idx = np.asarray(im)
            if np.all(np.isin(np.unique(idx), (0, 1))):
                return idx.astype(np.uint8)
            im = im.convert("RGB")
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
            arr = np.asarray(im)
        elif im.mode in ("RGB", "RGBA", "CMYK", "YCbCr"):
            arr = np.asarray(im.convert("RGB")).max(axis=-1)
        else:
            arr = np.asarray(im.convert("L"))
    values = np.unique(arr)
    if np.all(np.isin(values, (0, 1))):
        return arr.astype(np.uint8)
    if stats is not None and not np.all(np.isin(values, (0, 255))):
        stats.thresholded += 1
    return (arr > 127).astype(np.uint8)


def _resize_image(arr: np.ndarray, size: int) -> np.ndarray:
    if arr.shape[:2] == (size, size):
        return arr
    if arr.dtype == np.uint8:
        return np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR))
    out = Image.fromarray(arr.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return np.clip(np.rint(np.asarray(out)), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)


def _resize_mask(arr: np.ndarray, size: int) -> np.ndarray:
    if arr.shape[:2] == (size, size):
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.NEAREST))


def _save_png(arr: np.ndarray, path: str) -> None:
    if arr.dtype == np.uint16:
        Image.fromarray(arr.astype(np.uint16)).save(path, compress_level=3)
    else:
        Image.fromarray(arr).save(path, compress_level=3)


# ----------------------------------------------------------------------------------------
# folders, overwrite protection, splits
# ----------------------------------------------------------------------------------------
def _root(explicit: Optional[str], env: str, required: bool = True) -> Optional[str]:
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


def _check_targets(folder_name: str, roots: Sequence[Optional[str]], raw_dir: str, splits_file: str,
                   overwrite: bool) -> None:
    prefix = folder_name.split("_", 1)[0] + "_"
    for root in roots:
        if root and os.path.isdir(root):
            others = [d for d in sorted(os.listdir(root))
                      if d.startswith(prefix) and d != folder_name and os.path.isdir(os.path.join(root, d))]
            if others:
                raise ConversionError(
                    f"Dataset id {prefix[len('Dataset'):-1]} is already used by {os.path.join(root, others[0])}; "
                    f"nnU-Net needs ids to be unique. Choose another -d or remove that folder.")
    if not overwrite:
        if os.path.isdir(raw_dir) and os.listdir(raw_dir):
            raise ConversionError(f"{raw_dir} already exists and is not empty; nothing was changed. "
                                  f"Pass --overwrite (overwrite=True) to replace it.")
        if os.path.exists(splits_file):
            raise ConversionError(f"{splits_file} already exists; nothing was changed. "
                                  f"Pass --overwrite (overwrite=True) to replace it.")


def check_destination(dataset_id: int, name: str, overwrite: bool = False, raw_root: Optional[str] = None,
                      preprocessed_root: Optional[str] = None) -> str:
    """Fail early (before reading the source) if the target exists; returns the raw dataset folder path."""
    raw_root = _root(raw_root, "nnUNet_raw")
    pre_root = _root(preprocessed_root, "nnUNet_preprocessed")
    folder_name = dataset_folder_name(dataset_id, name)
    raw_dir = os.path.join(raw_root, folder_name)
    _check_targets(folder_name, (raw_root, pre_root, _root(None, "nnUNet_results", required=False)), raw_dir,
                   os.path.join(pre_root, folder_name, "splits_final.json"), overwrite)
    return raw_dir


def build_splits(train_ids: Sequence[str], val_ids: Sequence[str]):
    """(list of 5 folds, description). See the module docstring."""
    train_ids, val_ids = sorted(train_ids), sorted(val_ids)
    if train_ids and val_ids:
        fold0 = {"train": train_ids, "val": val_ids}
        return ([{"train": list(fold0["train"]), "val": list(fold0["val"])} for _ in range(N_FOLDS)],
                "fold 0 = official train/val split; folds 1-4 are copies of fold 0")
    all_ids = sorted(set(train_ids) | set(val_ids))
    if len(all_ids) < 2:
        return ([{"train": list(all_ids), "val": list(all_ids)} for _ in range(N_FOLDS)],
                "single training case: train = val = that case in all 5 folds")
    from nnunetv2.utilities.crossval_split import generate_crossval_split
    k = min(N_FOLDS, len(all_ids))
    folds = generate_crossval_split(all_ids, seed=CROSSVAL_SEED, n_splits=k)
    folds = [{"train": sorted(str(i) for i in f["train"]), "val": sorted(str(i) for i in f["val"])}
             for f in folds]
    while len(folds) < N_FOLDS:
        folds.append(dict(folds[len(folds) % k]))
    which = "train" if train_ids else "val"
    return (folds, f"no official train/val pair (source has {which} cases only): random {k}-fold split "
                   f"(seed {CROSSVAL_SEED}) of all training cases" + ("" if k == N_FOLDS else
                                                                      ", repeated up to 5 folds"))


def _resolve_id_clashes(cases: List[Case]) -> None:
    """Same id within a split -> error; same id in different splits -> prefix with the split name."""
    by_split: Dict[str, Dict[str, List[Case]]] = {}
    for c in cases:
        by_split.setdefault(c.split, {}).setdefault(c.case_id, []).append(c)
    dups = {f"{cid} ({s}: {', '.join(x.source_name for x in cs)})"
            for s, d in by_split.items() for cid, cs in d.items() if len(cs) > 1}
    if dups:
        raise ConversionError(f"Different source files give the same case id after sanitizing: {ids_text(dups)}")
    seen: Dict[str, str] = {}
    renamed: Dict[str, List[str]] = {}
    for split in SPLITS:
        for cid in sorted(by_split.get(split, {})):
            if cid in seen:
                c = by_split[split][cid][0]
                new = f"{split}_{cid}"
                n = 2
                while new in seen or new in by_split.get(split, {}):
                    new = f"{split}{n}_{cid}"
                    n += 1
                c.case_id = new
                renamed.setdefault(split, []).append(cid)
                seen[new] = split
            else:
                seen[cid] = split
    for split, ids in renamed.items():
        warn(f"{len(ids)} {split} case ids also occur in an earlier split; they were prefixed with "
             f"'{split}_' so that case ids (and reports.json keys) stay unique: {ids_text(ids)}")


def _subsample(cases: List[Case], max_cases: Optional[int]) -> List[Case]:
    if max_cases is None:
        return cases
    if int(max_cases) < 1:
        raise ConversionError(f"max_cases must be >= 1, got {max_cases}")
    out = []
    for split in SPLITS:
        sc = sorted((c for c in cases if c.split == split), key=lambda c: c.case_id)
        if len(sc) > max_cases:
            sc = random.Random(SUBSAMPLE_SEED).sample(sc, int(max_cases))
            info(f"--max_cases {max_cases}: using {max_cases} random {split} cases (seed {SUBSAMPLE_SEED})")
        out.extend(sorted(sc, key=lambda c: c.case_id))
    return out


# ----------------------------------------------------------------------------------------
# main writer
# ----------------------------------------------------------------------------------------
def write_dataset(cases: List[Case], *, problems: Problems, dataset_id: int, name: str, rgb: bool,
                  target: str, channel_names: Dict[str, str], source: str, layout: str,
                  overwrite: bool = False, resize: Optional[int] = None, max_cases: Optional[int] = None,
                  skip_missing: bool = False, laterality: str = "image", extra_tmca: Optional[dict] = None,
                  description: Optional[str] = None, reference: Optional[str] = None,
                  license: str = "see the source dataset", raw_root: Optional[str] = None,
                  preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Write the nnU-Net raw dataset + reports.json + splits_final.json; returns the raw folder."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json
    from tqdm import tqdm

    raw_root = _root(raw_root, "nnUNet_raw")
    pre_root = _root(preprocessed_root, "nnUNet_preprocessed")
    results_root = _root(None, "nnUNet_results", required=False)
    folder_name = dataset_folder_name(dataset_id, name)
    raw_dir = os.path.join(raw_root, folder_name)
    splits_file = os.path.join(pre_root, folder_name, "splits_final.json")
    _check_targets(folder_name, (raw_root, pre_root, results_root), raw_dir, splits_file, overwrite)
    if resize is not None and int(resize) < 1:
        raise ConversionError(f"size must be >= 1, got {resize}")

    where = f"{source} -> {folder_name}"
    # reports: missing or empty -> a problem (reports.json must have a non-empty text per case)
    problems.add("image without report", [c.case_id for c in cases if c.report is None])
    problems.add("empty report text", [c.case_id for c in cases
                                       if c.report is not None and not str(c.report).strip()])
    problems.add("image without mask", [c.case_id for c in cases if c.mask is None])
    problems.raise_or_warn(skip_missing, where)
    bad = problems.all_ids()
    cases = [c for c in cases if c.case_id not in bad and c.report is not None and str(c.report).strip()
             and c.mask is not None]
    for c in cases:
        c.report = str(c.report).strip()
    _resolve_id_clashes(cases)
    cases = _subsample(cases, max_cases)
    if not any(c.split in ("train", "val") for c in cases):
        raise ConversionError(f"{where}: no training (train/val) cases left to convert")

    os.makedirs(raw_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{folder_name}.partial-", dir=raw_root)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; the dataset folder gets the usual mode
        has_test = any(c.split == "test" for c in cases)
        for sub in ("imagesTr", "labelsTr") + (("imagesTs", "labelsTs") if has_test else ()):
            os.makedirs(os.path.join(staging, sub))
        stats = _Stats()
        late = Problems()
        written: List[Case] = []
        for c in tqdm(cases, desc=f"{folder_name}", unit="case", disable=not progress, file=sys.stderr):
            try:
                img = load_image(c.image, rgb, stats)
            except (OSError, ValueError) as e:
                late.add("unreadable image", [f"{c.case_id} ({os.path.basename(c.image)}: {type(e).__name__})"])
                continue
            try:
                mask = load_mask(c.mask, stats)
            except (OSError, ValueError) as e:
                late.add("unreadable mask", [f"{c.case_id} ({os.path.basename(c.mask)}: {type(e).__name__})"])
                continue
            if img.shape[:2] != mask.shape:
                late.add("image and mask sizes differ",
                         [f"{c.case_id} (image {img.shape[1]}x{img.shape[0]}, mask {mask.shape[1]}x{mask.shape[0]})"])
                continue
            if resize:
                img, mask = _resize_image(img, int(resize)), _resize_mask(mask, int(resize))
            if not mask.any():
                stats.empty_masks.append(c.case_id)
            tr = c.split != "test"
            _save_png(img, os.path.join(staging, "imagesTr" if tr else "imagesTs", f"{c.case_id}_0000.png"))
            _save_png(mask, os.path.join(staging, "labelsTr" if tr else "labelsTs", f"{c.case_id}.png"))
            written.append(c)
        late.raise_or_warn(skip_missing, where)
        cases = written
        train_ids = [c.case_id for c in cases if c.split == "train"]
        val_ids = [c.case_id for c in cases if c.split == "val"]
        test_ids = [c.case_id for c in cases if c.split == "test"]
        if not train_ids and not val_ids:
            raise ConversionError(f"{where}: no training (train/val) cases left to convert")
        folds, splits_desc = build_splits(train_ids, val_ids)

        atomic_write_json({c.case_id: c.report for c in sorted(cases, key=lambda c: c.case_id)},
                          os.path.join(staging, REPORTS_FILENAME))
        tmca = {"report_axes": dict(REPORT_AXES_2D), "laterality": laterality, "source": source,
                "layout": layout, "reports": REPORTS_FILENAME,
                "cases": {"train": len(train_ids), "val": len(val_ids), "test": len(test_ids)},
                "splits": splits_desc, "resize": int(resize) if resize else None}
        if extra_tmca:
            tmca.update(extra_tmca)
        # generate_dataset_json writes non-atomically: let it write into a temp folder, then os.replace
        tmp_dj = tempfile.mkdtemp(prefix=".dataset_json.", dir=staging)
        generate_dataset_json(tmp_dj, dict(channel_names), {"background": 0, target: 1},
                              len(train_ids) + len(val_ids), ".png", dataset_name=folder_name,
                              description=description, reference=reference, license=license,
                              converted_by="nnunetv2_tmca_convert", tmca=tmca)
        os.replace(os.path.join(tmp_dj, "dataset.json"), os.path.join(staging, "dataset.json"))
        os.rmdir(tmp_dj)

        # move into place
        if os.path.lexists(raw_dir):
            trash = tempfile.mkdtemp(prefix=f".{folder_name}.old-", dir=raw_root)
            os.rename(raw_dir, os.path.join(trash, "old"))
            os.rename(staging, raw_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(staging, raw_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    pre_dir = os.path.dirname(splits_file)
    had_pre = os.path.isdir(pre_dir) and any(f != "splits_final.json" for f in os.listdir(pre_dir))
    atomic_write_json(folds, splits_file)

    info(f"Wrote {raw_dir}")
    info(f"  imagesTr: {len(train_ids) + len(val_ids)} cases (train {len(train_ids)}, val {len(val_ids)}); "
         f"imagesTs: {len(test_ids)} cases; {'RGB' if rgb else 'grey'} PNG"
         + (f", resized to {int(resize)}x{int(resize)}" if resize else ""))
    info(f"  reports.json: {len(cases)} reports; labels: background=0, {target}=1")
    info(f"  {splits_file}: {splits_desc}")
    for k, v in stats.converted_mode.items():
        info(f"  converted {v} images from mode {k}")
    if stats.thresholded:
        info(f"  {stats.thresholded} masks had values other than 0/255 (e.g. JPEG) and were thresholded at >127")
    if stats.empty_masks:
        info(f"  {len(stats.empty_masks)} masks are empty (no foreground): {ids_text(stats.empty_masks)}")
    if had_pre:
        warn(f"{pre_dir} already holds preprocessed data of the previous conversion; rerun "
             f"nnUNetv2_plan_and_preprocess to refresh it.")
    return raw_dir


# ----------------------------------------------------------------------------------------
# LViT layout (QaTa-COV19, MosMedData+, MoNuSeg as distributed by HUANGLIZI/LViT)
# ----------------------------------------------------------------------------------------
LVIT_FOLDERS = {"train": "Train_Folder", "val": "Val_Folder", "test": "Test_Folder"}
MASK_PREFIX = "mask_"


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
    if "image" in header and "description" in header:
        ci, cd = header.index("image"), header.index("description")
        body = rows[1:]
    else:
        raise ConversionError(f"{path}: first row must name the columns 'Image' and 'Description' "
                              f"(found {len(header)} columns without them)")
    texts: Dict[str, str] = {}
    conflicting, repeated = set(), 0
    for row in body:
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


def _find_xlsx(folder: str, split: str) -> Optional[str]:
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


def list_lvit(source: str, problems: Problems) -> List[Case]:
    """Cases of an LViT-layout source: ``{Train,Val,Test}_Folder/{img,labelcol}`` + ``*_text.xlsx``.

    Masks are ``labelcol/mask_<stem>.*`` (QaTa-COV19, MosMedData+) or ``labelcol/<stem>.*``
    (MoNuSeg); images and masks are matched by stem, so ``x.tif`` pairs with ``x.png``.
    Missing folders are skipped (e.g. only ``Val_Folder``).
    """
    if not os.path.isdir(source):
        raise ConversionError(f"Source folder not found: {source}")
    cases: List[Case] = []
    found = []
    for split, sub in LVIT_FOLDERS.items():
        folder = os.path.join(source, sub)
        if not os.path.isdir(folder):
            continue
        found.append(sub)
        img_dir, lab_dir = os.path.join(folder, "img"), os.path.join(folder, "labelcol")
        if not os.path.isdir(img_dir):
            raise ConversionError(f"{folder} has no img/ subfolder")
        images = list_image_files(img_dir)
        masks = list_image_files(lab_dir) if os.path.isdir(lab_dir) else {}
        if not os.path.isdir(lab_dir):
            warn(f"{folder} has no labelcol/ subfolder")
        xlsx = _find_xlsx(folder, split)
        if xlsx is None:
            warn(f"{folder} has no *_text.xlsx: its images have no reports")
            texts = {}
        else:
            texts = read_text_xlsx(xlsx, problems)

        used_masks, used_texts = set(), set()
        for stem in sorted(images):
            mask = None
            for key in (MASK_PREFIX + stem, stem):
                if key in masks:
                    mask = masks[key]
                    used_masks.add(key)
                    break
            report = None
            for key in (stem, MASK_PREFIX + stem):
                if key in texts:
                    report = texts[key]
                    used_texts.add(key)
                    break
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
    if not found:
        raise ConversionError(f"{source} has none of {', '.join(LVIT_FOLDERS.values())} (LViT layout)")
    return cases
