"""Synthetic dataset in which the REPORT decides the segmentation target.

Every image holds 4-5 (``num_lesions``) look-alike bright lesions, each in its own cell of a grid:
side (left / right half of the image) x zone (upper / middle / lower third).
A random subset of 1-3 of them is the target; the mask holds only the target
lesions, and the report names them by side, zone and count, e.g.
``"Two lesions, upper left and lower right."``.  Target and distractor lesions
come from the same intensity / size distribution, so an image-only network can
not tell them apart (the best it can do is to segment every lesion, Dice ~0.5),
while a network that reads the report can reach Dice > 0.85.

Conventions
-----------
* "left" is the IMAGE's left, i.e. the small column index (QaTa-COV19 style).
* "upper" is the small row index (2D) / the small index along numpy axis 0
  (3D, z).
* 2D: grey uint8 PNGs (nnU-Net ``NaturalImage2DIO``), arrays (H, W).
  3D: ``.nii.gz`` volumes (SimpleITK, spacing 1, 1, 1), numpy arrays (Z, Y, X);
  side along X (last axis), zone along Z (first axis), Y is free.
* ``dataset.json["tmca"]["report_axes"]`` documents which axis the words refer to.

Case ids: ``synth_0000``... (imagesTr/labelsTr), ``synthts_0000``...
(imagesTs/labelsTs). ``reports.json`` (next to dataset.json) holds the reports of
all training and test cases. ``report_style="clinical"`` writes multi-section reports instead
(:mod:`.synthetic_clinical`: the targets are the nodules among other named findings); the
images and masks are the same as with the default ``"short"`` style.

Generation is deterministic given ``seed``: case ``i`` of a split uses the random
stream ``default_rng([seed, split, i])``, so it does not depend on how many
cases the other split has.

This module writes the dataset (:func:`make_synthetic_dataset`) and holds the
``nnUNetv2_tmca_make_synthetic`` CLI (:func:`main`); the report text comes from
:mod:`.synthetic_reports`, the images and masks from :mod:`.synthetic_images`.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np

from nnunetv2_tmca.dataset_conversion.synthetic_clinical import render_clinical_report
from nnunetv2_tmca.dataset_conversion.synthetic_images import as_shape, cell_of_point, sample_case
from nnunetv2_tmca.dataset_conversion.synthetic_reports import CELLS, SIDES, TYPO_WORDS, ZONES, render_report
from nnunetv2_tmca.io_utils import atomic_write_json
from nnunetv2_tmca.reports import REPORTS_FILENAME

# the generator's pieces stay importable from here, next to the writer and the CLI
__all__ = ["make_synthetic_dataset", "main", "sample_case", "render_report", "render_clinical_report", "cell_of_point",
           "CELLS", "SIDES", "ZONES", "TYPO_WORDS", "TRAIN_PREFIX", "TEST_PREFIX"]

TRAIN_PREFIX = "synth_"
TEST_PREFIX = "synthts_"
REPORT_STYLES = ("short", "clinical")


def _write_case(image: np.ndarray, mask: np.ndarray, image_file: str, label_file: str, dim: int) -> None:
    if dim == 2:
        from PIL import Image
        Image.fromarray(image).save(image_file)
        Image.fromarray(mask).save(label_file)
    else:
        import SimpleITK as sitk
        for arr, fname in ((image, image_file), (mask, label_file)):
            itk = sitk.GetImageFromArray(arr)
            itk.SetSpacing((1.0, 1.0, 1.0))
            sitk.WriteImage(itk, fname, True)


def _tmca_info(dim: int, report_style: str = "short") -> dict:
    if dim == 2:
        axes = {"left_right": 1, "upper_lower": 0}
        desc = ("Report words refer to image axes. 2D PNG: nnU-Net loads (C, 1, H, W); the axes given are those of "
                "the 2D patch (H, W): upper_lower = H (row; 'upper' = small row index), left_right = W (column; "
                "'left' = the image's left = small column index). Zones: upper/middle/lower = row thirds, "
                "left/right = column halves.")
    else:
        axes = {"left_right": 2, "upper_lower": 0}
        desc = ("Report words refer to image axes. 3D NIfTI: nnU-Net loads (C, Z, Y, X); spatial axes given: "
                "upper_lower = 0 (Z; 'upper' = small index), left_right = 2 (X; 'left' = small index). "
                "Zones: upper/middle/lower = thirds along Z, left/right = halves along X; Y is not named.")
    info = {"report_axes": axes,
            "description": "Synthetic language-guided dataset (nnunetv2_tmca): several look-alike lesions, the "
                           "report names which are the target. " + desc}
    if report_style == "clinical":
        info["report_style"] = "clinical"
        info["description"] += (" Clinical-style reports: the target is the nodule(s); every other lesion is "
                                "named as a different finding.")
    return info


def make_synthetic_dataset(raw_root: str, dataset_id: int = 990, name: str = "TMCASynthetic",
                           num_train: int = 40, num_test: int = 10, size: int = 64, dim: int = 2,
                           num_lesions: tuple = (4, 5), num_targets: tuple = (1, 3),
                           empty_fraction: float = 0.0, typo_rate: float = 0.05, seed: int = 0,
                           overwrite: bool = False, report_style: str = "short") -> str:
    """Writes raw_root/Dataset{id:03d}_{name}/ (images/labels Tr+Ts, dataset.json, reports.json).

    report_style: "short" (one sentence naming the targets) or "clinical" (multi-section reports).
    Returns the dataset folder. Raises FileExistsError if the folder exists and
    overwrite is False, or if another folder with the same dataset id exists.
    """
    dataset_id = int(dataset_id)
    if not 0 < dataset_id < 1000:
        raise ValueError(f"dataset_id must be in 1..999, got {dataset_id}")
    if not name or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"invalid dataset name {name!r} (letters, digits, '_' and '-' only)")
    if num_train < 1 or num_test < 0:
        raise ValueError("num_train must be >= 1 and num_test >= 0")
    if not 0.0 <= empty_fraction <= 1.0 or not 0.0 <= typo_rate <= 1.0:
        raise ValueError("empty_fraction and typo_rate must be in [0, 1]")
    if report_style not in REPORT_STYLES:
        raise ValueError(f"report_style must be one of {REPORT_STYLES}, got {report_style!r}")
    shape = as_shape(size, dim)
    # validate lesion settings early (cheap dry run)
    sample_case(np.random.default_rng(0), shape, dim, num_lesions, num_targets, typo_rate=0.0)

    raw_root = os.path.abspath(raw_root)
    folder_name = f"Dataset{dataset_id:03d}_{name}"
    folder = os.path.join(raw_root, folder_name)
    os.makedirs(raw_root, exist_ok=True)
    clashes = [d for d in os.listdir(raw_root) if d.startswith(f"Dataset{dataset_id:03d}_") and d != folder_name
               and os.path.isdir(os.path.join(raw_root, d))]
    if clashes:
        raise FileExistsError(f"dataset id {dataset_id} is already used by {os.path.join(raw_root, clashes[0])}")
    if os.path.exists(folder) and not overwrite:
        raise FileExistsError(f"{folder} already exists (pass overwrite=True / --overwrite to replace it)")

    file_ending = ".png" if dim == 2 else ".nii.gz"
    tmp = tempfile.mkdtemp(prefix=f".{folder_name}.", suffix=".tmp", dir=raw_root)
    try:
        reports: Dict[str, str] = {}
        n_empty_total = 0
        for split, (prefix, n_cases, img_dir, lab_dir) in enumerate(
                ((TRAIN_PREFIX, num_train, "imagesTr", "labelsTr"), (TEST_PREFIX, num_test, "imagesTs", "labelsTs"))):
            os.makedirs(os.path.join(tmp, img_dir))
            os.makedirs(os.path.join(tmp, lab_dir))
            n_empty = int(round(empty_fraction * n_cases))
            empty_idx = set(int(i) for i in np.random.default_rng([seed, split, 10 ** 6]).permutation(n_cases)[:n_empty])
            n_empty_total += n_empty
            for i in range(n_cases):
                case = f"{prefix}{i:04d}"
                rng = np.random.default_rng([seed, split, i])
                image, mask, report, meta = sample_case(rng, shape, dim, num_lesions, num_targets,
                                                     empty=i in empty_idx, typo_rate=typo_rate)
                if report_style == "clinical":  # same image and mask, the report drawn after them
                    report = render_clinical_report(meta["lesions"], rng, dim, typo_rate)[0]
                _write_case(image, mask, os.path.join(tmp, img_dir, f"{case}_0000{file_ending}"),
                            os.path.join(tmp, lab_dir, f"{case}{file_ending}"), dim)
                reports[case] = report

        from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json
        generate_dataset_json(tmp, {"0": "synthetic"}, {"background": 0, "lesion": 1}, num_train, file_ending,
                              dataset_name=folder_name,
                              description=f"Synthetic {dim}D language-guided segmentation dataset (seed {seed}).",
                              license="CC0 (synthetic data)",
                              converted_by="nnunetv2_tmca.dataset_conversion.synthetic",
                              numTest=num_test, tmca=_tmca_info(dim, report_style))
        atomic_write_json(reports, os.path.join(tmp, REPORTS_FILENAME))

        if os.path.exists(folder):
            if os.path.isdir(folder) and not os.path.islink(folder):
                shutil.rmtree(folder)
            else:
                os.remove(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="nnUNetv2_tmca_make_synthetic",
        description="Create the synthetic TMCA dataset (several look-alike lesions; the report names the targets) "
                    "in $nnUNet_raw/DatasetXXX_Name.")
    parser.add_argument("-d", "--dataset_id", type=int, default=990, help="dataset id (default 990)")
    parser.add_argument("--name", default="TMCASynthetic", help="dataset name (default TMCASynthetic)")
    parser.add_argument("--num_train", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=10)
    parser.add_argument("--size", type=int, default=None, help="edge length (default 64 for 2D, 32 for 3D)")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--num_lesions", type=int, nargs=2, default=(4, 5), metavar=("MIN", "MAX"),
                        help="look-alike lesions per image, at most 6 (default 4 5; the benchmark uses 5 6)")
    parser.add_argument("--num_targets", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"),
                        help="of them named by the report (default 1 3)")
    parser.add_argument("--empty_fraction", type=float, default=0.0, help="fraction of cases without target")
    parser.add_argument("--typo_rate", type=float, default=0.05, help="fraction of reports with a typo")
    parser.add_argument("--report_style", choices=REPORT_STYLES, default="short",
                        help="short: one sentence naming the targets (default); clinical: EXAMINATION / INDICATION / "
                             "COMPARISON / FINDINGS / IMPRESSION reports, 80+ words, the target (nodules) among "
                             "other named findings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--report_fraction", type=float, default=None, metavar="F",
                        help="keep the reports of only this seeded share of the training cases (test reports stay) "
                             "and set dataset.json tmca.reports_optional")
    parser.add_argument("-o", "--output", default=None, help="raw data root (default: $nnUNet_raw)")
    args = parser.parse_args(argv)

    raw_root = args.output or os.environ.get("nnUNet_raw")
    if not raw_root:
        parser.error("no output folder: pass -o RAW_ROOT or set nnUNet_raw")
    size = args.size if args.size is not None else (64 if args.dim == 2 else 32)
    try:
        folder = make_synthetic_dataset(raw_root, args.dataset_id, args.name, args.num_train, args.num_test,
                                        size=size, dim=args.dim, num_lesions=tuple(args.num_lesions),
                                        num_targets=tuple(args.num_targets), empty_fraction=args.empty_fraction,
                                        typo_rate=args.typo_rate, seed=args.seed, overwrite=args.overwrite,
                                        report_style=args.report_style)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    dropped = []
    if args.report_fraction is not None:
        from nnunetv2_tmca.dataset_conversion.partial_reports import thin_reports
        dropped = thin_reports(folder, args.report_fraction, seed=args.seed)
    print(f"Wrote {folder}")
    print(f"  {args.dim}D, size {size}, {args.num_train} training cases, {args.num_test} test cases, "
          f"{int(round(args.empty_fraction * args.num_train)) + int(round(args.empty_fraction * args.num_test))} "
          f"without target, {args.report_style} reports in {REPORTS_FILENAME}"
          + (f" ({len(dropped)} training cases without one: reports_optional)" if dropped else ""))


if __name__ == "__main__":
    main()
