"""Which patch axes the report's direction words follow, and what a flip along them does to a report.

Mirroring along an image axis that report words refer to (left/right, upper/lower) turns a
correct image-report pair into a wrong one, and so do large in-plane rotations (180 degrees
swap both). Datasets say which axes their words follow in ``dataset.json``:
``"tmca": {"report_axes": {"left_right": 1, "upper_lower": 0}}`` (axes of the 2D image (H, W),
or of the 3D array (Z, Y, X) as nnU-Net reads it). Without that key every axis counts as
referenced: no mirroring (training and test time) -- the safe default.

Three mirroring modes (``nnUNetTrainerTMCA.text_mirroring``, stored in the plans):
  "consistent" mirror along every axis nnU-Net chooses and trade the report's words of a
               mirrored axis (left <-> right, upper <-> lower) so that the pair stays correct
               (default; without "report_axes" it mirrors no axis, as it cannot know the words);
  "off"        mirror only along axes no report word refers to;
  "naive"      mirror along every axis and keep the report as it is (a wrong pair; a control).

``ReportAxes`` is built once from dataset.json + plans + configuration and asked by the trainer
and the predictor alike.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

TEXT_MIRRORING_MODES = ("off", "consistent", "naive")


def nonempty_subsets(items) -> list[tuple]:
    """Every non-empty combination of ``items`` in nnU-Net's order: (a,), (b,), (a, b), ..."""
    items = list(items)
    return [c for n in range(1, len(items) + 1) for c in itertools.combinations(items, n)]


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


@dataclass(frozen=True)
class ReportAxes:
    """``word_groups``: patch axis -> word group ("left_right", "upper_lower") a flip along it trades;
    None when the dataset does not say which axes its words follow."""
    word_groups: dict | None
    mode: str = "consistent"

    def __post_init__(self):
        if self.mode not in TEXT_MIRRORING_MODES:
            raise ValueError(f"text_mirroring must be one of {TEXT_MIRRORING_MODES}, not {self.mode!r}")

    @classmethod
    def from_dataset(cls, dataset_json: dict, transpose_forward, patch_dim: int,
                     mode: str = "consistent") -> "ReportAxes":
        groups = report_axes_of_dataset(dataset_json)
        if groups is None:
            return cls(None, mode)
        is_2d, out = image_is_2d(dataset_json), {}
        for group, raw_axis in groups.items():
            if is_2d:  # 2D images: report axes index (H, W), the 2d patch axes are (H, W)
                patch_axis = raw_axis
            else:  # 3D arrays are transposed by the plans; a 2d configuration drops the first transposed axis
                patch_axis = list(transpose_forward).index(raw_axis) - (3 - patch_dim)
            if patch_axis >= 0:
                out[patch_axis] = group
        return cls(out, mode)

    @classmethod
    def from_plans(cls, dataset_json: dict, plans_manager, configuration_manager,
                   mode: str = "consistent") -> "ReportAxes":
        return cls.from_dataset(dataset_json, plans_manager.transpose_forward,
                                len(configuration_manager.patch_size), mode)

    @property
    def trades_words(self) -> bool:
        """True when flips pair with mirrored reports (mode "consistent" and known word axes)."""
        return self.mode == "consistent" and self.word_groups is not None

    def text_safe(self, mirror_axes) -> tuple:
        """The mirror axes (patch axes) that no report word refers to; () when the word axes are unknown."""
        if self.word_groups is None or mirror_axes is None:
            return ()
        return tuple(a for a in mirror_axes if a not in self.word_groups)

    def training_mirror_axes(self, mirror_axes):
        """nnU-Net's mirror axes under this mode (None when none is left)."""
        if self.mode == "off" or (self.mode == "consistent" and self.word_groups is None):
            return self.text_safe(mirror_axes) or None
        return mirror_axes

    def groups_for_flip(self, flipped_axes) -> tuple:
        """The sorted word groups traded by a flip along ``flipped_axes`` (patch axes)."""
        groups = self.word_groups or {}
        return tuple(sorted({groups[a] for a in flipped_axes if a in groups}))

    def flip_texts(self, mirror_axes, text_for_groups) -> dict:
        """{flip: text_for_groups(groups it trades)} for every test-time flip of ``mirror_axes``;
        {} when flips do not pair with mirrored reports."""
        if not self.trades_words or not mirror_axes:
            return {}
        return {flip: text_for_groups(self.groups_for_flip(flip)) for flip in nonempty_subsets(mirror_axes)}
