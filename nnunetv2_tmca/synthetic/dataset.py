"""The synthetic dataset on disk: nnU-Net raw folders, dataset.json and reports.json.

Every image holds 4-5 (``num_lesions``) look-alike bright lesions, each in its own cell of a grid:
side (left / right half of the image) x zone (upper / middle / lower third).
A random subset of 1-3 of them is the target; the mask holds only the target
lesions, and the report names them by side, zone and count, e.g.
``"Two lesions, upper left and lower right."``.  Target and distractor lesions
come from the same intensity / size distribution, so an image-only network can
not tell them apart (the best it can do is to segment every lesion), while a
network that reads the report can.

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
(:mod:`.clinical`: the targets are the nodules among other named findings); the
images and masks are the same as with the default ``"short"`` style. ``report_style="real"`` takes real
radiology prose from a report corpus (:mod:`.real_prose`): the stated places of one real nodule sentence
decide the target cells, named at the PATIENT's side (the patient's right is the image's left;
dataset.json ``"laterality": "patient"``); training cases draw on the training patients' text, test cases
on the test patients'; ``tmca_report_meta.json`` records each case's sentence position, cells and sources.

Generation is deterministic given ``seed``: case ``i`` of a split uses the random
stream ``default_rng([seed, split, i])``, so it does not depend on how many
cases the other split has.

The folder is written through the raw-dataset writer (:mod:`nnunetv2_tmca.dataset_conversion.raw_dataset`):
its id and overwrite checks, its staging folder (nothing half-written is left behind) and its dataset.json.
"""
import os
from typing import Dict

import numpy as np

from nnunetv2_tmca.dataset_conversion.destination import check_raw_destination
from nnunetv2_tmca.dataset_conversion.raw_dataset import move_into_place, staging_folder, write_dataset_json
from nnunetv2_tmca.io_utils import atomic_write_json
from nnunetv2_tmca.reports import REPORTS_FILENAME
from nnunetv2_tmca.synthetic.clinical import render_clinical_report
from nnunetv2_tmca.synthetic.images import as_shape, sample_case
from nnunetv2_tmca.synthetic.real_prose import DEFAULT_PATIENT_PATTERN, META_FILENAME, SPLIT_NAMES, RealProse

TRAIN_PREFIX = "synth_"
TEST_PREFIX = "synthts_"
REPORT_STYLES = ("short", "clinical", "real")
SPLIT_FOLDERS = ((TRAIN_PREFIX, "imagesTr", "labelsTr"), (TEST_PREFIX, "imagesTs", "labelsTs"))


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


def _real_tmca_info(dim: int) -> dict:
    axis = "W (column)" if dim == 2 else "X (axis 2)"
    return {"report_axes": {"left_right": 1, "upper_lower": 0} if dim == 2 else {"left_right": 2, "upper_lower": 0},
            "laterality": "patient", "report_style": "real",
            "description": "Synthetic language-guided dataset (nnunetv2_tmca) with real radiology prose: several "
                           "look-alike lesions; one real sentence about a lung nodule, inserted into a real report "
                           "without other nodule sentences, names where the targets are by lobe. Report words name "
                           f"the PATIENT's side: the patient's right is the image's left, the small index along "
                           f"the left_right axis ({axis}); upper/middle/lower lobe = the small/middle/large third "
                           f"along upper_lower. Per-case sources and positions: {META_FILENAME}."}


def _tmca_info(dim: int, report_style: str = "short") -> dict:
    if report_style == "real":
        return _real_tmca_info(dim)
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


def _check_options(num_train: int, num_test: int, empty_fraction: float, typo_rate: float,
                   report_style: str, report_corpus) -> None:
    if num_train < 1 or num_test < 0:
        raise ValueError("num_train must be >= 1 and num_test >= 0")
    if not 0.0 <= empty_fraction <= 1.0 or not 0.0 <= typo_rate <= 1.0:
        raise ValueError("empty_fraction and typo_rate must be in [0, 1]")
    if report_style not in REPORT_STYLES:
        raise ValueError(f"report_style must be one of {REPORT_STYLES}, got {report_style!r}")
    if (report_style == "real") != (report_corpus is not None):
        raise ValueError("report_style='real' needs a report_corpus (a JSON file of real reports), and a "
                         "report_corpus is used only with report_style='real'")


def _empty_cases(num_cases: int, empty_fraction: float, seed: int, split: int) -> set:
    """Indices of the ``round(empty_fraction * num_cases)`` cases of ``split`` (0 train, 1 test) without target."""
    n_empty = int(round(empty_fraction * num_cases))
    return set(int(i) for i in np.random.default_rng([seed, split, 10 ** 6]).permutation(num_cases)[:n_empty])


def make_synthetic_dataset(raw_root: str, dataset_id: int = 990, name: str = "TMCASynthetic",
                           num_train: int = 40, num_test: int = 10, size: int = 64, dim: int = 2,
                           num_lesions: tuple = (4, 5), num_targets: tuple = (1, 3),
                           empty_fraction: float = 0.0, typo_rate: float = 0.05, seed: int = 0,
                           overwrite: bool = False, report_style: str = "short", report_corpus=None,
                           patient_pattern: str = DEFAULT_PATIENT_PATTERN, test_fraction: float = 0.3) -> str:
    """Writes raw_root/Dataset{id:03d}_{name}/ (images/labels Tr+Ts, dataset.json, reports.json).

    report_style: "short" (one sentence naming the targets), "clinical" (multi-section reports) or "real"
    (real prose of ``report_corpus``, split by patient, group 1 of ``patient_pattern``, ``test_fraction`` of
    the patients for the test cases; the sentence decides the target cells, so ``num_targets`` and
    ``typo_rate`` are not used; also writes tmca_report_meta.json).
    Returns the dataset folder. ValueError for invalid options; the writer's ConversionError for an
    invalid id or name, an id another folder in ``raw_root`` uses, or (without ``overwrite``) an
    existing dataset.
    """
    _check_options(num_train, num_test, empty_fraction, typo_rate, report_style, report_corpus)
    shape = as_shape(size, dim)
    # validate lesion settings early (cheap dry run)
    sample_case(np.random.default_rng(0), shape, dim, num_lesions, num_targets, typo_rate=0.0)
    empties = [_empty_cases(n, empty_fraction, seed, split) for split, n in enumerate((num_train, num_test))]
    prose = None
    if report_style == "real":
        prose = RealProse.from_file(report_corpus, patient_pattern, test_fraction, seed,
                                    needs=[(n, n - len(e)) for n, e in zip((num_train, num_test), empties)])
    dest = check_raw_destination(dataset_id, name, raw_root, overwrite)

    file_ending = ".png" if dim == 2 else ".nii.gz"
    with staging_folder(dest) as staging:
        reports: Dict[str, str] = {}
        records: Dict[str, dict] = {}
        for split, ((prefix, img_dir, lab_dir), n_cases) in enumerate(zip(SPLIT_FOLDERS, (num_train, num_test))):
            os.makedirs(os.path.join(staging, img_dir))
            os.makedirs(os.path.join(staging, lab_dir))
            empty = empties[split]
            for i in range(n_cases):
                case = f"{prefix}{i:04d}"
                rng = np.random.default_rng([seed, split, i])
                cells = None
                if prose is not None:  # the sentence first: its places decide the target cells
                    real_report, record = prose.draw(split, np.random.default_rng([seed, split, i, 1]), i in empty)
                    records[case] = {"split": SPLIT_NAMES[split], **record}
                    cells = [tuple(c) for c in record["image_cells"]] or None
                image, mask, report, meta = sample_case(rng, shape, dim, num_lesions, num_targets,
                                                        empty=i in empty, typo_rate=typo_rate, target_cells=cells)
                if report_style == "clinical":  # same image and mask, the report drawn after them
                    report = render_clinical_report(meta["lesions"], rng, dim, typo_rate)[0]
                elif prose is not None:
                    report = real_report
                _write_case(image, mask, os.path.join(staging, img_dir, f"{case}_0000{file_ending}"),
                            os.path.join(staging, lab_dir, f"{case}{file_ending}"), dim)
                reports[case] = report
        write_dataset_json(staging, dest.folder_name, channel_names={"0": "synthetic"}, target="lesion",
                           num_training=num_train, tmca=_tmca_info(dim, report_style),
                           description=f"Synthetic {dim}D language-guided segmentation dataset (seed {seed}).",
                           reference=None, license="CC0 (synthetic data)", file_ending=file_ending,
                           converted_by="nnunetv2_tmca.synthetic", num_test=num_test)
        atomic_write_json(reports, os.path.join(staging, REPORTS_FILENAME))
        if prose is not None:
            atomic_write_json({**prose.summary(), "cases": records}, os.path.join(staging, META_FILENAME))
        move_into_place(staging, dest)
    return dest.raw_dir
