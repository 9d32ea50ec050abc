"""How a TMCA model predicts without a report (issue #15): the null-text variants compared in
documentation/benchmarks.md ("Prediction without a report").

``_nullBypass``: rows without a report (dropped or missing) skip LGTE and the target-informed output
fusion, so the no-report output is the planned U-Net's (all gates are residual: identity path);
``_nullBypass50`` also drops half of the reports (text dropout 0.5) so that this path trains on
half of the rows; ``_null50`` drops half of the reports without the bypass. ``_plainPath``: the bypass,
and the planned decoder also runs on every row's encoder features with nnU-Net's loss (weight 1), so the
no-report path trains on every sample as the image-only nnU-Net does; no text dropout (reports are never
dropped: the plain path is the no-report model). Cost: one more decoder pass per step.
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA
from nnunetv2_tmca.training.variants.schedules.budgets import DemoBudget, SynthBudget


class nnUNetTrainerTMCA_nullBypass(nnUNetTrainerTMCA):
    tmca_network = {"null_bypass": True}


class nnUNetTrainerTMCA_nullBypass50(nnUNetTrainerTMCA_nullBypass):
    text_dropout = 0.5


class nnUNetTrainerTMCA_null50(nnUNetTrainerTMCA):
    text_dropout = 0.5


class nnUNetTrainerTMCA_plainPath(nnUNetTrainerTMCA_nullBypass):
    plain_path_weight = 1.0
    text_dropout = 0.0


class nnUNetTrainerTMCA_plainPath_demo(DemoBudget, nnUNetTrainerTMCA_plainPath):
    pass


class nnUNetTrainerTMCA_plainPath_synth(SynthBudget, nnUNetTrainerTMCA_plainPath):
    pass


class nnUNetTrainerTMCA_nullBypass_demo(DemoBudget, nnUNetTrainerTMCA_nullBypass):
    pass


class nnUNetTrainerTMCA_nullBypass50_demo(DemoBudget, nnUNetTrainerTMCA_nullBypass50):
    pass


class nnUNetTrainerTMCA_null50_demo(DemoBudget, nnUNetTrainerTMCA_null50):
    pass


class nnUNetTrainerTMCA_nullBypass_synth(SynthBudget, nnUNetTrainerTMCA_nullBypass):
    pass


class nnUNetTrainerTMCA_nullBypass50_synth(SynthBudget, nnUNetTrainerTMCA_nullBypass50):
    pass
