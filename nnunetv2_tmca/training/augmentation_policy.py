"""Augmentations that cannot contradict the report.

Mirroring along an image axis that report words refer to (left/right, upper/lower) turns a
correct image-report pair into a wrong one, and so do large in-plane rotations (180 degrees
swap both). Datasets say which axes their words follow in ``dataset.json``:
``"tmca": {"report_axes": {"left_right": 1, "upper_lower": 0}}`` (axes of the 2D image (H, W),
or of the 3D array (Z, Y, X) as nnU-Net reads it). Without that key every axis counts as
referenced: no mirroring (training and test time) -- the safe default.
"""
from __future__ import annotations


def report_axes_of_dataset(dataset_json: dict) -> set | None:
    """Axes (in the raw image) that report words refer to; None = unknown (treat all as referenced)."""
    axes = (dataset_json.get("tmca") or {}).get("report_axes")
    if axes is None:
        return None
    return {int(a) for a in axes.values() if a is not None}


def text_safe_mirror_axes(mirror_axes, dataset_json: dict, transpose_forward, patch_dim: int,
                          image_is_2d: bool) -> tuple:
    """Keep only the mirror axes (patch axes) that no report word refers to."""
    referenced = report_axes_of_dataset(dataset_json)
    if referenced is None or mirror_axes is None:
        return ()
    if image_is_2d:  # 2D images: report axes index (H, W), the 2d patch axes are (H, W)
        patch_axes_referenced = referenced
    else:  # 3D arrays are transposed by the plans; a 2d configuration drops the first transposed axis
        transposed = {list(transpose_forward).index(a) for a in referenced}
        offset = 3 - patch_dim
        patch_axes_referenced = {a - offset for a in transposed if a - offset >= 0}
    return tuple(a for a in mirror_axes if a not in patch_axes_referenced)
