"""How a TMCA model predicts without a report: the variants of documentation/benchmarks.md,
"Prediction without a report".

The default (``null_bypass = True``): rows without a report (dropped or missing) skip LGTE and the
target-informed output fusion, so the no-report output is the planned U-Net's (every text module is a
residual branch: the identity path).
``_nullText``: rows without a report go through the text path with the learned null text.
``_textDropout50`` / ``_nullText50``: the same two with half of the reports dropped (text dropout 0.5).
``_plainPath``: the planned decoder also runs on every row's encoder features with nnU-Net's loss (weight 1),
so the no-report path trains on every sample as the image-only nnU-Net does; no text dropout. It costs one
more decoder pass per step: the trainer for models that will often predict without a report.
Each exists at every named budget too (``_demo``, ``_synth``, ``_cpu``, ...; ``variants/schedules/budgets.py``).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_nullText(nnUNetTrainerTMCA):
    null_bypass = False


class nnUNetTrainerTMCA_textDropout50(nnUNetTrainerTMCA):
    text_dropout = 0.5


class nnUNetTrainerTMCA_nullText50(nnUNetTrainerTMCA_nullText):
    text_dropout = 0.5


class nnUNetTrainerTMCA_plainPath(nnUNetTrainerTMCA):
    plain_path_weight = 1.0
    text_dropout = 0.0
