"""Mirroring policies (see ``training/augmentation_policy.py``).

nnUNetTrainerTMCA mirrors along all of nnU-Net's axes and trades the report's words with each
flip (text-consistent mirroring, the default since it measured best). ``_noMirror`` mirrors only
along axes no report word refers to (the usual choice of language-guided methods; the default
before), ``_naiveMirror`` flips the image and keeps the report (the wrong pair; a control),
``_textMirror`` names the default explicitly (the benchmark runs that chose it).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_textMirror(nnUNetTrainerTMCA):
    text_mirroring = "consistent"


class nnUNetTrainerTMCA_noMirror(nnUNetTrainerTMCA):
    text_mirroring = "off"


class nnUNetTrainerTMCA_naiveMirror(nnUNetTrainerTMCA):
    text_mirroring = "naive"
