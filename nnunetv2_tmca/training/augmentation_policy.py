"""Augmentations that cannot contradict the report.

Mirroring along an image axis that report words refer to (left/right, upper/lower) turns a
correct image-report pair into a wrong one, and so do large in-plane rotations (180 degrees
swap both). Datasets say which axes their words follow in ``dataset.json``:
``"tmca": {"report_axes": {"left_right": 1, "upper_lower": 0}}`` (axes of the 2D image (H, W),
or of the 3D array (Z, Y, X) as nnU-Net reads it). Without that key every axis counts as
referenced: no mirroring (training and test time) -- the safe default.

Three mirroring policies (``nnUNetTrainerTMCA.text_mirroring``):
  "consistent" mirror along every axis nnU-Net chooses and trade the report's words of a
               mirrored axis (left <-> right, upper <-> lower) so that the pair stays correct
               (default; without "report_axes" it mirrors no axis, as it cannot know the words);
  "off"        mirror only along axes no report word refers to;
  "naive"      mirror along every axis and keep the report as it is (a wrong pair; a control).
"""
from __future__ import annotations

TEXT_MIRRORING_MODES = ("off", "consistent", "naive")


def image_is_2d(dataset_json: dict) -> bool:
    """True for 2D natural-image datasets (png, jpg, ...), whose report axes index (H, W)."""
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    return dataset_json["file_ending"].lower() in NaturalImage2DIO.supported_file_endings


def report_axes_of_dataset(dataset_json: dict) -> dict | None:
    """Word group -> raw image axis it follows; None = unknown (treat all axes as referenced)."""
    axes = (dataset_json.get("tmca") or {}).get("report_axes")
    if axes is None:
        return None
    return {str(group): int(a) for group, a in axes.items() if a is not None}


def mirror_word_groups(dataset_json: dict, transpose_forward, patch_dim: int, image_is_2d: bool) -> dict | None:
    """Patch axis -> word group ("left_right", "upper_lower") whose words a flip along it trades.

    None when the dataset does not say which axes its words follow.
    """
    groups = report_axes_of_dataset(dataset_json)
    if groups is None:
        return None
    out = {}
    for group, raw_axis in groups.items():
        if image_is_2d:  # 2D images: report axes index (H, W), the 2d patch axes are (H, W)
            patch_axis = raw_axis
        else:  # 3D arrays are transposed by the plans; a 2d configuration drops the first transposed axis
            patch_axis = list(transpose_forward).index(raw_axis) - (3 - patch_dim)
        if patch_axis >= 0:
            out[patch_axis] = group
    return out


def text_safe_mirror_axes(mirror_axes, dataset_json: dict, transpose_forward, patch_dim: int,
                          image_is_2d: bool) -> tuple:
    """Keep only the mirror axes (patch axes) that no report word refers to."""
    groups = mirror_word_groups(dataset_json, transpose_forward, patch_dim, image_is_2d)
    if groups is None or mirror_axes is None:
        return ()
    return tuple(a for a in mirror_axes if a not in groups)


def groups_for_flip(flipped_axes, groups: dict | None) -> tuple:
    """The sorted word groups traded by a flip along ``flipped_axes`` (patch axes)."""
    return tuple(sorted({groups[a] for a in flipped_axes if a in (groups or {})}))
