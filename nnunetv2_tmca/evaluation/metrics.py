"""Per-case binary segmentation metrics (TP/FP/FN, Dice, IoU, HD95) and their aggregation.

Conventions (also printed with every summary table):

* A label map is turned into one binary mask: by default every foreground label (value != 0)
  is merged; ``labels=[...]`` keeps only the given label ids (merged into one mask).
* Both reference and prediction empty: Dice = IoU = ``empty_value`` (default 1.0, as in the
  LViT family's per-image Dice). nnU-Net's own ``summary.json`` uses NaN for these cases and
  skips them in its means; pass ``empty_value=float('nan')`` to get that behaviour (NaN values
  are skipped by the per-image mean). The number of both-empty cases is always reported.
* Exactly one side empty: Dice = IoU = 0; HD95 is undefined (NaN / JSON null).
* Global (pooled) Dice/IoU, as in the GuideDecoder family: TP/FP/FN are summed over all pixels
  of all cases first, then Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN).
* Per-image mean: the mean of the per-case values (std is the population std, ddof=0).
* HD95 (physical units, using the voxel spacing): the 95th percentile of the symmetric set of
  surface distances (distances of every prediction-surface voxel to the reference surface and
  of every reference-surface voxel to the prediction surface), as in medpy's ``hd95``. Surfaces
  are mask XOR its binary erosion (face connectivity); distances come from
  ``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing``. Only computed on request.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np
from scipy import ndimage


def binarize(seg: np.ndarray, labels: Optional[Iterable[int]] = None) -> np.ndarray:
    """Binary mask of ``seg``: all foreground (``!= 0``) when ``labels`` is None, else ``isin(labels)``."""
    seg = np.asarray(seg)
    if labels is None:
        return seg != 0
    labels = [int(label) for label in labels]
    if len(labels) == 0:
        raise ValueError("labels must be None (all foreground merged) or a non-empty list of label ids")
    return np.isin(seg, labels)


def confusion_counts(reference: np.ndarray, prediction: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) pixel counts of two boolean masks of the same shape."""
    reference = np.asarray(reference, dtype=bool)
    prediction = np.asarray(prediction, dtype=bool)
    if reference.shape != prediction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape} vs prediction {prediction.shape}")
    tp = int(np.count_nonzero(reference & prediction))
    fp = int(np.count_nonzero(prediction & ~reference))
    fn = int(np.count_nonzero(reference & ~prediction))
    return tp, fp, fn


def dice_iou_from_counts(tp: int, fp: int, fn: int, empty_value: float = 1.0) -> tuple[float, float]:
    """Dice = 2TP/(2TP+FP+FN), IoU = TP/(TP+FP+FN); both equal ``empty_value`` when TP+FP+FN == 0
    (reference and prediction empty)."""
    denom = tp + fp + fn
    if denom == 0:
        return float(empty_value), float(empty_value)
    return 2.0 * tp / (2.0 * tp + fp + fn), tp / float(denom)


def _squeeze_singleton(mask: np.ndarray, spacing: Optional[Sequence[float]]):
    """Drop axes of size 1 (e.g. nnU-Net's fake z axis of 2D images, spacing 999) with their spacing."""
    if spacing is None:
        spacing = [1.0] * mask.ndim
    spacing = [float(s) for s in spacing]
    if len(spacing) != mask.ndim:
        raise ValueError(f"spacing {spacing} does not match mask dimensionality {mask.ndim}")
    keep = [i for i, n in enumerate(mask.shape) if n > 1]
    if not keep:  # a single voxel
        return mask.reshape((1,)), [1.0]
    return mask.reshape([mask.shape[i] for i in keep]), [spacing[i] for i in keep]


def _surface(mask: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    eroded = ndimage.binary_erosion(mask, structure=structure, iterations=1, border_value=0)
    return mask & ~eroded


def surface_distances(a: np.ndarray, b: np.ndarray, spacing: Optional[Sequence[float]] = None) -> np.ndarray:
    """Distances (physical units) from every surface voxel of ``a`` to the nearest surface voxel of ``b``.
    Both masks must be non-empty."""
    a, sp = _squeeze_singleton(np.asarray(a, dtype=bool), spacing)
    b, _ = _squeeze_singleton(np.asarray(b, dtype=bool), spacing)
    sa, sb = _surface(a), _surface(b)
    dt = ndimage.distance_transform_edt(~sb, sampling=sp)
    return dt[sa]


def hd95(reference: np.ndarray, prediction: np.ndarray, spacing: Optional[Sequence[float]] = None) -> float:
    """95th percentile symmetric surface distance in physical units (``spacing`` per array axis).

    NaN when either mask is empty (including both empty)."""
    reference = np.asarray(reference, dtype=bool)
    prediction = np.asarray(prediction, dtype=bool)
    if reference.shape != prediction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape} vs prediction {prediction.shape}")
    if not reference.any() or not prediction.any():
        return float("nan")
    d = np.concatenate([surface_distances(prediction, reference, spacing),
                        surface_distances(reference, prediction, spacing)])
    return float(np.percentile(d, 95))


def compute_case_metrics(reference_seg: np.ndarray, prediction_seg: np.ndarray,
                         labels: Optional[Iterable[int]] = None, spacing: Optional[Sequence[float]] = None,
                         compute_hd95: bool = False, empty_value: float = 1.0) -> dict:
    """Metrics of one case from two label maps of identical shape.

    Returns ``{"TP", "FP", "FN", "n_ref", "n_pred", "Dice", "IoU", "HD95", "both_empty"}``.
    Dice/IoU equal ``empty_value`` when both masks are empty (see module docstring). ``HD95`` is
    None when not requested, NaN when requested but undefined (one or both masks empty).
    """
    ref = binarize(reference_seg, labels)
    pred = binarize(prediction_seg, labels)
    tp, fp, fn = confusion_counts(ref, pred)
    dice, iou = dice_iou_from_counts(tp, fp, fn, empty_value)
    out = {"TP": tp, "FP": fp, "FN": fn, "n_ref": tp + fn, "n_pred": tp + fp,
           "Dice": dice, "IoU": iou, "HD95": None, "both_empty": (tp + fp + fn) == 0}
    if compute_hd95:
        out["HD95"] = hd95(ref, pred, spacing)
    return out


def _finite(values) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def _stat(values, fn) -> Optional[float]:
    arr = _finite(values)
    return float(fn(arr)) if arr.size else None


def aggregate(per_case: Sequence[dict], empty_value: float = 1.0) -> dict:
    """Pool per-case metric dicts (as returned by :func:`compute_case_metrics`).

    Returns ``per_image_mean`` / ``per_image_std`` (Dice, IoU, HD95; NaN/None values skipped),
    ``HD95_median``, ``n_hd95`` (cases with a finite HD95), ``global`` (Dice, IoU, TP, FP, FN pooled
    over all pixels of all cases), ``n_cases`` and ``n_both_empty``. Undefined values are None.
    """
    tp = int(sum(c["TP"] for c in per_case))
    fp = int(sum(c["FP"] for c in per_case))
    fn = int(sum(c["FN"] for c in per_case))
    g_dice, g_iou = dice_iou_from_counts(tp, fp, fn, empty_value)
    out = {
        "per_image_mean": {k: _stat([c[k] for c in per_case], np.mean) for k in ("Dice", "IoU", "HD95")},
        "per_image_std": {k: _stat([c[k] for c in per_case], np.std) for k in ("Dice", "IoU", "HD95")},
        "HD95_median": _stat([c["HD95"] for c in per_case], np.median),
        "n_hd95": int(_finite([c["HD95"] for c in per_case]).size),
        "global": {"Dice": _none_if_nan(g_dice), "IoU": _none_if_nan(g_iou), "TP": tp, "FP": fp, "FN": fn},
        "n_cases": len(per_case),
        "n_both_empty": int(sum(1 for c in per_case if c["TP"] + c["FP"] + c["FN"] == 0)),
    }
    return out


def _none_if_nan(x) -> Optional[float]:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x
