"""How a TMCA model predicts without a report (issue #15): the variants compared in
documentation/benchmarks.md ("Prediction without a report").

The default (``null_bypass = True``): rows without a report (dropped or missing) skip LGTE and the
target-informed output fusion, so the no-report output is the planned U-Net's (every text module is a
residual branch: the identity path). ``_nullBypass`` names it explicitly (the runs that chose it).
``_nullText``: the former default, null rows go through the text path with the learned null text.
``_nullBypass50`` / ``_nullText50``: the same with half of the reports dropped (text dropout 0.5).
``_plainPath``: the bypass, and the planned decoder also runs on every row's encoder features with
nnU-Net's loss (weight 1), so the no-report path trains on every sample as the image-only nnU-Net does;
no text dropout. Cost: one more decoder pass per step.
``_alignDetached``: the alignment heads read the encoder skip through a stop-gradient (measured for the no-report
path, not adopted: documentation/benchmarks.md, "Prediction without a report").
Each exists at every named budget too (``_demo``, ``_synth``, ``_cpu``, ...; ``variants/schedules/budgets.py``).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_nullBypass(nnUNetTrainerTMCA):
    null_bypass = True


class nnUNetTrainerTMCA_nullText(nnUNetTrainerTMCA):
    null_bypass = False


class nnUNetTrainerTMCA_nullBypass50(nnUNetTrainerTMCA_nullBypass):
    text_dropout = 0.5


class nnUNetTrainerTMCA_nullText50(nnUNetTrainerTMCA_nullText):
    text_dropout = 0.5


class nnUNetTrainerTMCA_alignDetached(nnUNetTrainerTMCA):
    """The alignment heads read the encoder skip through a stop-gradient (``align_encoder_gradient = False``):
    the encoder that the no-report path shares is not reshaped by the alignment losses."""
    tmca_network = {"align_encoder_gradient": False}


class nnUNetTrainerTMCA_plainPath(nnUNetTrainerTMCA_nullBypass):
    plain_path_weight = 1.0
    text_dropout = 0.0
