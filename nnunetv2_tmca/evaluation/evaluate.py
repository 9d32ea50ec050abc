"""Folder-level evaluation of binary (merged-label) segmentations: Dice, IoU, HD95, global vs per-image.

``evaluate_folders`` matches every reference file with the prediction file of the same name,
computes per-case metrics (see :mod:`nnunetv2_tmca.evaluation.metrics` for all conventions,
notably the both-empty convention ``empty_value``) and writes a JSON summary in the spirit of
nnU-Net's ``summary.json`` (default ``<prediction_folder>/summary_tmca.json``). Undefined values
(e.g. HD95 with an empty mask, or when HD95 was not requested) are JSON ``null`` / Python None,
so the file read back equals the returned dict.

CLI::

    nnUNetv2_tmca_evaluate -ref REF_FOLDER -pred PRED_FOLDER [-o JSON] [-l LABELS ...] [--hd95]
                           [--empty_value 1.0] [--allow_missing] [-np N] [--file_ending .png]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from typing import Iterable, Optional, Sequence

import numpy as np

from nnunetv2_tmca.evaluation.metrics import aggregate, compute_case_metrics

SUMMARY_FILE_NAME = "summary_tmca.json"

# file endings we can read (nnU-Net's readers + a few SimpleITK ones); longest match wins
KNOWN_FILE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".gipl", ".png", ".bmp", ".tif", ".tiff")


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
def _file_ending_of(fname: str, endings: Sequence[str] = KNOWN_FILE_ENDINGS) -> Optional[str]:
    low = fname.lower()
    matches = [e for e in endings if low.endswith(e)]
    return max(matches, key=len) if matches else None


def infer_file_ending(folder: str) -> str:
    """Most common known file ending among the files of ``folder``."""
    counts = Counter(e for e in (_file_ending_of(f) for f in _list_files(folder)) if e is not None)
    if not counts:
        raise RuntimeError(f"No segmentation files with a known ending {KNOWN_FILE_ENDINGS} in {folder}. "
                           f"Pass file_ending explicitly.")
    return counts.most_common(1)[0][0]


def _list_files(folder: str) -> list[str]:
    return sorted(f for f in os.listdir(folder)
                  if not f.startswith(".") and os.path.isfile(os.path.join(folder, f)))


class _SimpleReader:
    """Fallback reader (SimpleITK, which also reads PNG/BMP/TIFF) with nnU-Net's conventions:
    returns (array of shape (c, z, y, x), {"spacing": per-array-axis spacing of (z, y, x)})."""

    def read_seg(self, fname: str):
        import SimpleITK as sitk
        img = sitk.ReadImage(fname)
        arr = sitk.GetArrayFromImage(img)
        spacing = list(img.GetSpacing())[::-1]
        n_comp = img.GetNumberOfComponentsPerPixel()
        if n_comp > 1:  # vector pixel (RGB): channels last
            arr = np.moveaxis(arr, -1, 0)
        else:
            arr = arr[None]
        if arr.ndim == 3:  # (c, y, x) -> (c, 1, y, x)
            arr = arr[:, None]
            spacing = [999.0] + spacing
        return arr, {"spacing": spacing}


def get_reader(file_ending: str, example_file: Optional[str] = None):
    """An object with nnU-Net's ``read_seg`` interface for ``file_ending`` (nnU-Net's registry,
    falling back to plain SimpleITK)."""
    try:
        from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_file_ending
        return determine_reader_writer_from_file_ending(file_ending, example_file, verbose=False)()
    except Exception:  # nnU-Net missing or no nnU-Net reader for this ending
        return _SimpleReader()


def read_label_map(reader, fname: str) -> tuple[np.ndarray, list[float]]:
    """Label map (z, y, x) and its spacing. Multi-channel images (RGB(A) PNGs) are accepted when
    all colour channels are identical (alpha ignored)."""
    seg, props = reader.read_seg(fname)
    seg = np.asarray(seg)
    if seg.shape[0] > 1:
        channels = seg[:3] if seg.shape[0] == 4 else seg
        if not all(np.array_equal(channels[0], c) for c in channels[1:]):
            raise ValueError(f"{fname}: label map has {seg.shape[0]} differing channels (colour image?); "
                             f"expected a single-channel label map")
        seg = channels[:1]
    spacing = [float(s) for s in props.get("spacing", [1.0] * (seg.ndim - 1))]
    return seg[0], spacing


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------
def _clean(x):
    """NaN -> None, numpy scalars -> Python numbers (JSON-native values)."""
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return None if math.isnan(x) else x
    return x


def _evaluate_one(args) -> dict:
    case, ref_file, pred_file, reader, labels, hd95, empty_value = args
    ref, spacing = read_label_map(reader, ref_file)
    if pred_file is None:  # allowed missing prediction: counted as empty prediction
        pred = np.zeros_like(ref)
    else:
        pred, _ = read_label_map(reader, pred_file)
    if ref.shape != pred.shape:
        raise ValueError(f"Case {case}: shape mismatch between reference {ref_file} {tuple(ref.shape)} and "
                         f"prediction {pred_file} {tuple(pred.shape)}")
    m = compute_case_metrics(ref, pred, labels=labels, spacing=spacing, compute_hd95=hd95, empty_value=empty_value)
    return {"case": case, "reference_file": ref_file, "prediction_file": pred_file,
            "Dice": _clean(m["Dice"]), "IoU": _clean(m["IoU"]), "HD95": _clean(m["HD95"]),
            "TP": m["TP"], "FP": m["FP"], "FN": m["FN"], "n_ref": m["n_ref"], "n_pred": m["n_pred"],
            "both_empty": bool(m["both_empty"]), "missing_prediction": pred_file is None}


def evaluate_folders(reference_folder: str, prediction_folder: str, file_ending: Optional[str] = None,
                     labels: Optional[Iterable[int]] = None, hd95: bool = False, empty_value: float = 1.0,
                     output_file: Optional[str] = None, num_processes: int = 1,
                     allow_missing: bool = False) -> dict:
    """Evaluate every reference case against the prediction file of the same name.

    labels: None merges all foreground labels (!= 0); a list keeps only those label ids (merged).
    empty_value: Dice = IoU for cases where reference and prediction are both empty (default 1.0,
      LViT-style; nnU-Net's summary.json uses NaN and skips them -> pass ``float('nan')``).
    allow_missing: when False (default) a missing prediction raises FileNotFoundError naming the
      missing files; when True it is reported (``missing_cases``) and scored as an empty prediction.
    output_file: JSON path, default ``<prediction_folder>/summary_tmca.json`` (written atomically).

    Returns a JSON-native dict: ``per_case`` (list of {case, reference_file, prediction_file, Dice,
    IoU, HD95, TP, FP, FN, n_ref, n_pred, both_empty, missing_prediction}), ``per_image_mean``,
    ``per_image_std``, ``HD95_median``, ``n_hd95``, ``global`` ({Dice, IoU, TP, FP, FN}), ``n_cases``,
    ``n_both_empty``, ``n_missing``, ``missing_cases``, ``empty_value``, ``labels``, ``hd95_computed``,
    ``file_ending``, ``reference_folder``, ``prediction_folder``. Undefined numbers are None.
    """
    if not os.path.isdir(reference_folder):
        raise FileNotFoundError(f"reference folder does not exist: {reference_folder}")
    if not os.path.isdir(prediction_folder):
        raise FileNotFoundError(f"prediction folder does not exist: {prediction_folder}")
    if file_ending is None:
        file_ending = infer_file_ending(reference_folder)
    ref_files = [f for f in _list_files(reference_folder) if f.lower().endswith(file_ending.lower())]
    if not ref_files:
        raise RuntimeError(f"No reference files ending with {file_ending} in {reference_folder}")
    labels = None if labels is None else [int(label) for label in labels]

    pred_present = set(_list_files(prediction_folder))
    missing = [f for f in ref_files if f not in pred_present]
    if missing and not allow_missing:
        shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
        raise FileNotFoundError(f"{len(missing)} of {len(ref_files)} predictions missing in {prediction_folder}: "
                                f"{shown}. Use --allow_missing (allow_missing=True) to score them as empty "
                                f"predictions.")
    if missing:
        print(f"WARNING: {len(missing)} predictions missing, counted as empty predictions: "
              f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}", file=sys.stderr)

    reader = get_reader(file_ending, os.path.join(reference_folder, ref_files[0]))
    missing_set = set(missing)
    jobs = []
    for f in ref_files:
        case = f[:len(f) - len(file_ending)]
        pred_file = None if f in missing_set else os.path.join(prediction_folder, f)
        jobs.append((case, os.path.join(reference_folder, f), pred_file, reader, labels, bool(hd95),
                     float(empty_value)))

    if num_processes > 1 and len(jobs) > 1:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(min(num_processes, len(jobs))) as pool:
            per_case = pool.map(_evaluate_one, jobs)
    else:
        per_case = [_evaluate_one(j) for j in jobs]

    agg = aggregate(per_case, empty_value=empty_value)
    result = {
        "per_case": per_case,
        "per_image_mean": agg["per_image_mean"],
        "per_image_std": agg["per_image_std"],
        "HD95_median": agg["HD95_median"],
        "n_hd95": agg["n_hd95"],
        "global": agg["global"],
        "n_cases": agg["n_cases"],
        "n_both_empty": agg["n_both_empty"],
        "n_missing": len(missing),
        "missing_cases": [f[:len(f) - len(file_ending)] for f in missing],
        "empty_value": _clean(float(empty_value)),
        "labels": labels,
        "hd95_computed": bool(hd95),
        "file_ending": file_ending,
        "reference_folder": reference_folder,
        "prediction_folder": prediction_folder,
    }
    if output_file is None:
        output_file = os.path.join(prediction_folder, SUMMARY_FILE_NAME)
    save_summary(result, output_file)
    return result


RAW_DATASET_SUBFOLDERS = ("imagesTr", "labelsTr", "imagesTs", "labelsTs")


def refuse_summary_in_dataset(prediction_folder: str, reference_folder: str) -> None:
    """The default summary goes into the prediction folder: refuse when that is the reference folder, a folder of
    an nnU-Net raw dataset (e.g. ``-pred labelsTs``) or lies in nnUNet_preprocessed, which must not be written to."""
    from nnunetv2_tmca.io_utils import is_inside
    real = os.path.realpath(prediction_folder)
    parent = os.path.dirname(real)
    raw, preprocessed = os.environ.get("nnUNet_raw"), os.environ.get("nnUNet_preprocessed")
    dataset_subfolder = os.path.basename(real) in RAW_DATASET_SUBFOLDERS and os.path.isfile(
        os.path.join(parent, "dataset.json"))
    raw_dataset_root = bool(raw) and os.path.realpath(raw) in (real, parent)
    if is_inside(real, reference_folder) or dataset_subfolder or raw_dataset_root or \
            (preprocessed and is_inside(real, preprocessed)):
        raise ValueError(f"-pred {prediction_folder} is the reference folder or part of an nnU-Net dataset: the "
                         f"summary would be written into it. Pass -o FILE elsewhere.")


def save_summary(summary: dict, output_file: str) -> None:
    """Write ``summary`` as JSON atomically (temporary file + os.replace)."""
    from nnunetv2_tmca.io_utils import atomic_write_bytes
    data = json.dumps(summary, indent=2, sort_keys=False, allow_nan=False).encode("utf-8")
    atomic_write_bytes(data, output_file)


def load_summary(path: str) -> dict:
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100.0 * x:.2f}"


def _empty_convention(summary: dict) -> str:
    ev = summary.get("empty_value")
    if ev is None:
        return "both-empty cases have Dice = IoU = NaN and are skipped in per-image means"
    return f"both-empty cases count as Dice = IoU = {ev:g}"


def format_summary(summary: dict) -> str:
    """Small markdown table of one summary (percentages with 2 decimals)."""
    mean, std, glob = summary["per_image_mean"], summary.get("per_image_std", {}), summary["global"]
    rows = [("cases", f"{summary['n_cases']} (both empty: {summary['n_both_empty']}; "
                      f"missing predictions: {summary.get('n_missing', 0)})"),
            ("per-image Dice (%, mean ± std)", f"{_pct(mean.get('Dice'))} ± {_pct(std.get('Dice'))}"),
            ("per-image IoU (%, mean ± std)", f"{_pct(mean.get('IoU'))} ± {_pct(std.get('IoU'))}"),
            ("global Dice (%)", _pct(glob.get("Dice"))),
            ("global IoU (%)", _pct(glob.get("IoU")))]
    if summary.get("hd95_computed"):
        med = summary.get("HD95_median")
        rows.append((f"HD95 median (spacing units, n={summary.get('n_hd95', 0)} with both masks non-empty)",
                     "n/a" if med is None else f"{med:.2f}"))
    lines = ["| metric | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows]
    lines.append("")
    lines.append(f"Convention: {_empty_convention(summary)}; global = pooled TP/FP/FN over all pixels of all "
                 f"cases; per-image = mean of per-case values.")
    return "\n".join(lines)


def compare_runs(named_summaries: dict) -> str:
    """Markdown table with one row per named run (values: summary dicts or paths to summary JSONs).

    Columns: per-image Dice, global Dice, per-image IoU, global IoU (percent, 2 decimals), n.
    """
    lines = ["| Run | per-image Dice (%) | global Dice (%) | per-image IoU (%) | global IoU (%) | n |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in named_summaries.items():
        if isinstance(s, (str, os.PathLike)):
            s = load_summary(os.fspath(s))
        mean, glob = s.get("per_image_mean", {}), s.get("global", {})
        label = str(name).replace("|", "\\|")
        lines.append(f"| {label} | {_pct(mean.get('Dice'))} | {_pct(glob.get('Dice'))} | "
                     f"{_pct(mean.get('IoU'))} | {_pct(glob.get('IoU'))} | {s.get('n_cases', 'n/a')} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="nnUNetv2_tmca_evaluate",
        description="Dice / IoU (per-image mean and global pooled) and optional HD95 of a prediction folder "
                    "against a reference folder; cases are matched by file name.")
    p.add_argument("-ref", required=True, help="folder with reference segmentations")
    p.add_argument("-pred", required=True, help="folder with predicted segmentations (same file names)")
    p.add_argument("-o", default=None, help=f"output JSON (default: <pred>/{SUMMARY_FILE_NAME})")
    p.add_argument("-l", nargs="+", type=int, default=None,
                   help="label ids to evaluate, merged into one mask (default: all foreground labels merged)")
    p.add_argument("--hd95", action="store_true", help="also compute HD95 (physical units, slower)")
    p.add_argument("--empty_value", type=float, default=1.0,
                   help="Dice/IoU when reference and prediction are both empty (default 1.0; 'nan' = skip, "
                        "like nnU-Net's summary.json)")
    p.add_argument("--allow_missing", action="store_true",
                   help="score missing predictions as empty instead of failing")
    p.add_argument("-np", type=int, default=1, help="number of processes (default 1)")
    p.add_argument("--file_ending", default=None, help="e.g. .png or .nii.gz (default: inferred from -ref)")
    a = p.parse_args(argv)
    out = a.o if a.o is not None else os.path.join(a.pred, SUMMARY_FILE_NAME)
    try:
        if a.o is None:
            refuse_summary_in_dataset(a.pred, a.ref)
        summary = evaluate_folders(a.ref, a.pred, file_ending=a.file_ending, labels=a.l, hd95=a.hd95,
                                   empty_value=a.empty_value, output_file=out, num_processes=a.np,
                                   allow_missing=a.allow_missing)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    low = lowest_agreement_line(a.pred, summary)
    if low:
        print("\n" + low)
    print(f"\nSummary written to {out}")
    return 0


def lowest_scores(agreement: dict, n: int = 5) -> list:
    """The ``n`` (case id, record) pairs of an agreement.json with the lowest scores (unscored cases left out)."""
    scored = [(c, r) for c, r in agreement.items() if isinstance(r, dict) and r.get("score") is not None]
    return sorted(scored, key=lambda cr: (cr[1]["score"], cr[0]))[:n]


def lowest_agreement_line(prediction_folder: str, summary: dict, n: int = 5) -> Optional[str]:
    """With ``agreement.json`` in the prediction folder (``nnUNetv2_predict_tmca --agreement``): one line naming
    the ``n`` cases with the lowest report-image agreement, with score, flags and Dice (case ids only)."""
    from nnunetv2_tmca.io_utils import AGREEMENT_FILE, read_agreement_file

    path = os.path.join(prediction_folder, AGREEMENT_FILE)
    if not os.path.isfile(path):
        return None
    try:
        agreement = read_agreement_file(path)
    except (OSError, ValueError) as e:
        return f"WARNING: {path} is unreadable ({e}); no agreement scores listed"
    dice = {c["case"]: c["Dice"] for c in summary["per_case"]}
    low = lowest_scores({c: r for c, r in agreement.items() if c in dice}, n)
    if not low:
        return f"Agreement ({path}): no scored case among the evaluated ones"
    items = [f"{c} {r['score']:.2f} [{', '.join(r['flags']) or 'no flags'}] Dice {_pct(dice[c])}" for c, r in low]
    return f"Lowest report-image agreement (check these reports first; {path}): " + "; ".join(items)


if __name__ == "__main__":
    sys.exit(main())
