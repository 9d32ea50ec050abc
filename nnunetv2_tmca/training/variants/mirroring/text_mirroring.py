"""Mirroring policies (the trainer's ``text_mirroring``; mirroring/).

nnUNetTrainerTMCA mirrors along all of nnU-Net's axes and trades the report's words with each
flip (text-consistent mirroring). ``_noMirror`` mirrors only along axes no report word refers to
(the usual choice of language-guided methods), ``_naiveMirror`` flips the image and keeps the
report (the wrong pair; a control). Results: documentation/benchmarks.md, "Mirroring".
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_noMirror(nnUNetTrainerTMCA):
    text_mirroring = "off"


class nnUNetTrainerTMCA_naiveMirror(nnUNetTrainerTMCA):
    text_mirroring = "naive"
