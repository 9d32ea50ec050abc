"""Training-time text augmentation that keeps the meaning.

_placePhrasing: each report also in up to 4 rephrasings of its lung-lobe places ("upper lobe of the right lung" /
"right lung upper lobe" / "right upper lobe"; text/place_phrasing.py), one drawn per training step, so that a place
seen in training in one phrasing is also read in the others. documentation/benchmarks.md, "Real CT-report prose".
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_placePhrasing(nnUNetTrainerTMCA):
    place_phrasings = 4
