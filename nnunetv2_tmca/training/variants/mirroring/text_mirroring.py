"""Mirroring policies (see ``training/augmentation_policy.py``).

nnUNetTrainerTMCA mirrors only along axes no report word refers to. These variants keep all of
nnU-Net's mirror axes: ``_textMirror`` trades the report's words with each flip (left <-> right,
upper <-> lower; training and test time), ``_naiveMirror`` flips the image and keeps the report
(the wrong pair that language-guided methods avoid by switching flips off; a control).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_textMirror(nnUNetTrainerTMCA):
    text_mirroring = "consistent"


class nnUNetTrainerTMCA_naiveMirror(nnUNetTrainerTMCA):
    text_mirroring = "naive"
