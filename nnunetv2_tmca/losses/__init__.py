"""Alignment losses of TMCA (no knowledge of the trainer): TSSD region term, pixel term, multi-level sum."""
from nnunetv2_tmca.losses.multilevel import MultiLevelAlignmentLoss

__all__ = ["MultiLevelAlignmentLoss"]
