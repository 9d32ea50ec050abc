"""How a TMCA model predicts without a report (issue #15): the variants compared in
documentation/benchmarks.md ("Prediction without a report").

The default (``null_bypass = True``): rows without a report (dropped or missing) skip LGTE and the
target-informed output fusion, so the no-report output is the planned U-Net's (every text module is a
residual branch: the identity path). ``_nullBypass`` names it explicitly (the runs that chose it).
``_nullText``: the former default, null rows go through the text path with the learned null text.
``_nullBypass50`` / ``_nullText50``: the same with half of the reports dropped (text dropout 0.5).
``_nullBypass30``: the default with text dropout 0.3 (twice the default's share of rows on the no-report path, at
no extra cost per step); measured, rejected (a tie on the harder set, both paths lower on QaTa-COV19).
``_plainPath``: the bypass, and the planned decoder also runs on every row's encoder features with
nnU-Net's loss (weight 1), so the no-report path trains on every sample as the image-only nnU-Net does;
no text dropout. Cost: one more decoder pass per step (1.77x time, 1.43x memory on the CPU). The trainer for models
that will predict without a report: at or above the image-only nnU-Net without one on all four benchmark sets.
``_plainPathQuarter``: the default (text dropout kept) plus that pass on a quarter of the rows.
``_alignDetached``: the alignment heads read the encoder skip through a stop-gradient (measured for the no-report
path, not adopted: documentation/benchmarks.md, "Prediction without a report").
``_sideText`` / ``_sideTextShared``: the report as a side path of the planned U-Net (no LGTE; with / without the
stop-gradients of ``detach_trunk``). ``_preFusionLoss``: nnU-Net's loss also on the decoder output before the
fusion term. ``_nullRowWeight``: nnU-Net's loss counted 4x on the rows without a report. All measured in
documentation/benchmarks.md ("Prediction without a report"), none adopted.
Each exists at every named budget too (``_demo``, ``_synth``, ``_cpu``, ...; ``variants/schedules/budgets.py``).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_nullBypass(nnUNetTrainerTMCA):
    null_bypass = True


class nnUNetTrainerTMCA_nullText(nnUNetTrainerTMCA):
    null_bypass = False


class nnUNetTrainerTMCA_nullBypass50(nnUNetTrainerTMCA_nullBypass):
    text_dropout = 0.5


class nnUNetTrainerTMCA_nullBypass30(nnUNetTrainerTMCA_nullBypass):
    text_dropout = 0.3


class nnUNetTrainerTMCA_nullText50(nnUNetTrainerTMCA_nullText):
    text_dropout = 0.5


class nnUNetTrainerTMCA_alignDetached(nnUNetTrainerTMCA):
    """The alignment heads read the encoder skip through a stop-gradient (``align_encoder_gradient = False``):
    the encoder that the no-report path shares is not reshaped by the alignment losses."""
    tmca_network = {"align_encoder_gradient": False}


class nnUNetTrainerTMCA_plainPath(nnUNetTrainerTMCA_nullBypass):
    plain_path_weight = 1.0
    text_dropout = 0.0


class nnUNetTrainerTMCA_plainPathQuarter(nnUNetTrainerTMCA):
    """The default, and the planned decoder also runs on a quarter of the rows (drawn each step among those with a
    report) with nnU-Net's loss: _plainPath's supervision of the no-report path at about a quarter of its cost."""
    plain_path_weight = 1.0
    plain_path_rows = 0.25


class nnUNetTrainerTMCA_sideText(nnUNetTrainerTMCA):
    """The report as a side path of an image-only nnU-Net: no LGTE in the decoder; the alignment heads read the
    planned decoder's features (text-free) through a stop-gradient, and the finest head's target map is added to
    the detached U-Net logits (``detach_trunk``). The U-Net itself trains on nnU-Net's loss alone, on every row
    (the plain path comes from the same decoder pass), so without a report the model is an image-only nnU-Net."""
    tmca_network = {"lgte_stages": "none", "detach_trunk": True}
    align_features = "decoder"
    plain_path_weight = 1.0
    text_dropout = 0.0


class nnUNetTrainerTMCA_sideTextShared(nnUNetTrainerTMCA_sideText):
    """``_sideText`` without the stop-gradients: the report's losses also train the U-Net, which keeps nnU-Net's
    loss on every row."""
    tmca_network = {"lgte_stages": "none"}


class nnUNetTrainerTMCA_preFusionLoss(nnUNetTrainerTMCA):
    """nnU-Net's loss also on the decoder's output before the output fusion adds the report's target map (weight
    1): with the fusion term carrying the target, the U-Net's own logits can stay low on every row, and a model
    without a report (no fusion term) then under-segments."""
    prefusion_loss_weight = 1.0


class nnUNetTrainerTMCA_nullRowWeight(nnUNetTrainerTMCA):
    """nnU-Net's loss counted 4x on the rows without a report (the null bypass: the planned U-Net's output), so the
    plain path gets the weight it would have if ~60 % of the rows had none, at no extra forward pass. Helps without
    a report where the image cannot tell the target from look-alikes (harder synthetic set), harms both paths on
    QaTa-COV19 and Kvasir-SEG (documentation/benchmarks.md, "Prediction without a report"): opt-in."""
    null_row_loss_weight = 3.0
