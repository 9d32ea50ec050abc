"""Writing an nnU-Net raw dataset with reports from the listed cases of a source.

* ``$nnUNet_raw/DatasetXXX_Name/imagesTr/<case>_0000.png`` + ``labelsTr/<case>.png`` for the
  official train and val cases, ``imagesTs``/``labelsTs`` for the official test cases;
  grey images as 1-channel PNG, colour images as ONE 3-channel RGB PNG per case (nnU-Net's
  NaturalImage2DIO reads it as 3 channels; channel_names ``{"0": "R", "1": "G", "2": "B"}``
  as in nnU-Net's Dataset120_RoadSegmentation); masks as 0/1 uint8 PNG;
* ``dataset.json`` (nnU-Net's ``generate_dataset_json`` plus a ``"tmca"`` block),
  ``reports.json`` (case id -> report text, training AND test cases);
* ``$nnUNet_preprocessed/DatasetXXX_Name/splits_final.json`` (see :mod:`.splits`).

The whole raw folder is written into a hidden staging folder next to it and moved into
place at the end, so a failed conversion never leaves a half-written dataset, and an
existing dataset is only replaced with ``overwrite=True``. JSON files are written
atomically (temporary file + ``os.replace``). Nothing printed here contains report text.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

from nnunetv2_tmca.dataset_conversion.case_selection import require_training_cases, select_cases
from nnunetv2_tmca.dataset_conversion.cases import Case, Problems
from nnunetv2_tmca.dataset_conversion.common import SPLITS, ConversionError, ids_text, info, warn
from nnunetv2_tmca.dataset_conversion.destination import SPLITS_FILENAME, Destination, check_destination_of
from nnunetv2_tmca.dataset_conversion.image_io import (
    ImageStats,
    load_image,
    load_mask,
    resize_image,
    resize_mask,
    save_png,
)
from nnunetv2_tmca.dataset_conversion.splits import build_splits
from nnunetv2_tmca.io_utils import atomic_write_json
from nnunetv2_tmca.reports import REPORTS_FILENAME

# 2D PNG: nnU-Net's patch axes are (H, W); "left/right" runs along W, "upper/lower" along H.
REPORT_AXES_2D = {"left_right": 1, "upper_lower": 0}


def write_dataset(cases: List[Case], *, problems: Problems, dataset_id: int, name: str, rgb: bool,
                  target: str, channel_names: Dict[str, str], source: str, layout: str,
                  overwrite: bool = False, resize: Optional[int] = None, max_cases: Optional[int] = None,
                  skip_missing: bool = False, laterality: str = "image", extra_tmca: Optional[dict] = None,
                  description: Optional[str] = None, reference: Optional[str] = None,
                  license: str = "see the source dataset", raw_root: Optional[str] = None,
                  preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Write the nnU-Net raw dataset + reports.json + splits_final.json; returns the raw folder."""
    dest = check_destination_of(dataset_id, name, overwrite, raw_root, preprocessed_root)
    if resize is not None and int(resize) < 1:
        raise ConversionError(f"size must be >= 1, got {resize}")
    resize = int(resize) if resize else None
    where = f"{source} -> {dest.folder_name}"
    cases = select_cases(cases, problems, skip_missing=skip_missing, max_cases=max_cases, where=where)

    with staging_folder(dest) as staging:
        stats = ImageStats()
        cases = write_images_and_masks(cases, staging, rgb=rgb, resize=resize, stats=stats,
                                       skip_missing=skip_missing, where=where,
                                       progress_label=dest.folder_name if progress else None)
        require_training_cases(cases, where)
        ids = ids_by_split(cases)
        folds, splits_desc = build_splits(ids["train"], ids["val"])
        atomic_write_json({c.case_id: c.report for c in sorted(cases, key=lambda c: c.case_id)},
                          os.path.join(staging, REPORTS_FILENAME))
        tmca = {"report_axes": dict(REPORT_AXES_2D), "laterality": laterality, "source": source,
                "layout": layout, "reports": REPORTS_FILENAME,
                "cases": {s: len(ids[s]) for s in SPLITS}, "splits": splits_desc, "resize": resize}
        tmca.update(extra_tmca or {})
        write_dataset_json(staging, dest.folder_name, channel_names=channel_names, target=target,
                           num_training=len(ids["train"]) + len(ids["val"]), tmca=tmca,
                           description=description, reference=reference, license=license)
        move_into_place(staging, dest)

    had_preprocessed = has_preprocessed_data(dest)
    atomic_write_json(folds, dest.splits_file)
    print_summary(dest, ids, rgb=rgb, resize=resize, target=target, splits_desc=splits_desc, stats=stats)
    if had_preprocessed:
        warn(f"{dest.preprocessed_dir} already holds preprocessed data of the previous conversion; rerun "
             f"nnUNetv2_plan_and_preprocess to refresh it.")
    return dest.raw_dir


@contextmanager
def staging_folder(dest: Destination) -> Iterator[str]:
    """A hidden folder in nnUNet_raw to build the dataset in; removed if anything fails."""
    os.makedirs(dest.raw_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{dest.folder_name}.partial-", dir=dest.raw_root)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; the dataset folder gets the usual mode
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_images_and_masks(cases: List[Case], staging: str, *, rgb: bool, resize: Optional[int],
                           stats: ImageStats, skip_missing: bool, where: str,
                           progress_label: Optional[str] = None) -> List[Case]:
    """Write ``images*/<case>_0000.png`` and ``labels*/<case>.png``; returns the cases written.

    Unreadable files and image/mask size mismatches are problems (ConversionError, or with
    ``skip_missing`` a warning and the case is left out). ``progress_label``: show a progress bar.
    """
    from tqdm import tqdm

    has_test = any(c.split == "test" for c in cases)
    for sub in ("imagesTr", "labelsTr") + (("imagesTs", "labelsTs") if has_test else ()):
        os.makedirs(os.path.join(staging, sub))
    problems = Problems()
    written: List[Case] = []
    for c in tqdm(cases, desc=progress_label, unit="case", disable=progress_label is None, file=sys.stderr):
        arrays = read_case(c, rgb, stats, problems)
        if arrays is None:
            continue
        img, mask = arrays
        if resize:
            img, mask = resize_image(img, resize), resize_mask(mask, resize)
        if not mask.any():
            stats.empty_masks.append(c.case_id)
        tr = c.split != "test"
        save_png(img, os.path.join(staging, "imagesTr" if tr else "imagesTs", f"{c.case_id}_0000.png"))
        save_png(mask, os.path.join(staging, "labelsTr" if tr else "labelsTs", f"{c.case_id}.png"))
        written.append(c)
    problems.raise_or_warn(skip_missing, where)
    return written


def read_case(c: Case, rgb: bool, stats: ImageStats, problems: Problems):
    """(image, mask) arrays of one case, or None (and a problem) if unreadable or of different sizes."""
    try:
        img = load_image(c.image, rgb, stats)
    except (OSError, ValueError) as e:
        problems.add("unreadable image", [f"{c.case_id} ({os.path.basename(c.image)}: {type(e).__name__})"])
        return None
    try:
        mask = load_mask(c.mask, stats)
    except (OSError, ValueError) as e:
        problems.add("unreadable mask", [f"{c.case_id} ({os.path.basename(c.mask)}: {type(e).__name__})"])
        return None
    if img.shape[:2] != mask.shape:
        problems.add("image and mask sizes differ",
                     [f"{c.case_id} (image {img.shape[1]}x{img.shape[0]}, mask {mask.shape[1]}x{mask.shape[0]})"])
        return None
    return img, mask


def ids_by_split(cases: List[Case]) -> Dict[str, List[str]]:
    return {s: [c.case_id for c in cases if c.split == s] for s in SPLITS}


def write_dataset_json(folder: str, dataset_name: str, *, channel_names: Dict[str, str], target: str,
                       num_training: int, tmca: dict, description: Optional[str], reference: Optional[str],
                       license: str, file_ending: str = ".png", converted_by: str = "nnunetv2_tmca_convert",
                       num_test: Optional[int] = None) -> None:
    """``folder/dataset.json`` via nnU-Net's ``generate_dataset_json`` (+ ``"numTest"`` if given, ``"tmca"``),
    written atomically."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    # generate_dataset_json writes non-atomically: let it write into a temp folder, then os.replace
    tmp_dj = tempfile.mkdtemp(prefix=".dataset_json.", dir=folder)
    generate_dataset_json(tmp_dj, dict(channel_names), {"background": 0, target: 1},
                          num_training, file_ending, dataset_name=dataset_name,
                          description=description, reference=reference, license=license,
                          converted_by=converted_by, **({} if num_test is None else {"numTest": num_test}),
                          tmca=tmca)
    os.replace(os.path.join(tmp_dj, "dataset.json"), os.path.join(folder, "dataset.json"))
    os.rmdir(tmp_dj)


def move_into_place(staging: str, dest: Destination) -> None:
    """Rename the staging folder to the dataset folder, replacing an existing one."""
    raw_dir = dest.raw_dir
    if os.path.lexists(raw_dir):
        trash = tempfile.mkdtemp(prefix=f".{dest.folder_name}.old-", dir=dest.raw_root)
        os.rename(raw_dir, os.path.join(trash, "old"))
        os.rename(staging, raw_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staging, raw_dir)


def has_preprocessed_data(dest: Destination) -> bool:
    """Whether nnUNet_preprocessed holds more for this dataset than its splits file."""
    pre_dir = dest.preprocessed_dir
    return os.path.isdir(pre_dir) and any(f != SPLITS_FILENAME for f in os.listdir(pre_dir))


def print_summary(dest: Destination, ids: Dict[str, List[str]], *, rgb: bool, resize: Optional[int], target: str,
                  splits_desc: str, stats: ImageStats) -> None:
    """Counts, image type, splits and image statistics; case ids only, no report text."""
    n_train, n_val, n_test = (len(ids[s]) for s in SPLITS)
    info(f"Wrote {dest.raw_dir}")
    info(f"  imagesTr: {n_train + n_val} cases (train {n_train}, val {n_val}); "
         f"imagesTs: {n_test} cases; {'RGB' if rgb else 'grey'} PNG"
         + (f", resized to {resize}x{resize}" if resize else ""))
    info(f"  reports.json: {n_train + n_val + n_test} reports; labels: background=0, {target}=1")
    info(f"  {dest.splits_file}: {splits_desc}")
    for k, v in stats.converted_mode.items():
        info(f"  converted {v} images from mode {k}")
    if stats.thresholded:
        info(f"  {stats.thresholded} masks had values other than 0/255 (e.g. JPEG) and were thresholded at >127")
    if stats.empty_masks:
        info(f"  {len(stats.empty_masks)} masks are empty (no foreground): {ids_text(stats.empty_masks)}")
