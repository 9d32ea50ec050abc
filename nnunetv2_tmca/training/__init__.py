"""Trainers of nnunetv2_tmca. nnU-Net finds them through ``ext_trainers/tmca_trainers.py``."""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA  # noqa: F401
from nnunetv2_tmca.training.variants.ablations.tmca_ablations import (  # noqa: F401
    nnUNetTrainerTMCA_fullGrid, nnUNetTrainerTMCA_globalAlign, nnUNetTrainerTMCA_noAlign, nnUNetTrainerTMCA_noLGTE,
    nnUNetTrainerTMCA_sgd, nnUNetTrainerTMCA_singleLevel)
from nnunetv2_tmca.training.variants.mirroring.text_mirroring import (  # noqa: F401
    nnUNetTrainerTMCA_naiveMirror, nnUNetTrainerTMCA_noMirror, nnUNetTrainerTMCA_textMirror)
from nnunetv2_tmca.training.variants.schedules.budgets import (  # noqa: F401
    nnUNetTrainer_cpu, nnUNetTrainer_debug, nnUNetTrainer_demo, nnUNetTrainerTMCA_demo, nnUNetTrainer_synth, nnUNetTrainerTMCA_cpu, nnUNetTrainerTMCA_debug,
    nnUNetTrainerTMCA_adamw_synth, nnUNetTrainerTMCA_globalAlign_synth, nnUNetTrainerTMCA_sgd_synth, nnUNetTrainerTMCA_noAlign_synth, nnUNetTrainerTMCA_noLGTE_synth,
    nnUNetTrainerTMCA_singleLevel_synth, nnUNetTrainerTMCA_synth, nnUNetTrainerTMCA_textMirror_debug,
    nnUNetTrainerTMCA_textMirror_synth, nnUNetTrainerTMCA_naiveMirror_synth, nnUNetTrainerTMCA_textMirror_cpu,
    nnUNetTrainerTMCA_naiveMirror_cpu, nnUNetTrainerTMCA_noMirror_debug, nnUNetTrainerTMCA_noMirror_synth,
    nnUNetTrainerTMCA_noMirror_cpu, nnUNetTrainerTMCA_fullGrid_synth, nnUNetTrainerTMCA_fullGrid_cpu)
from nnunetv2_tmca.training.variants.null_text.null_text import (  # noqa: F401  (temporary, issue #15 branch)
    nnUNetTrainerTMCA_nullBypass, nnUNetTrainerTMCA_nullBypass50, nnUNetTrainerTMCA_nullBypass50_demo,
    nnUNetTrainerTMCA_nullBypass_cpu, nnUNetTrainerTMCA_nullBypass_demo, nnUNetTrainerTMCA_nullBypass_synth,
    nnUNetTrainerTMCA_nullText, nnUNetTrainerTMCA_nullText50, nnUNetTrainerTMCA_nullText50_demo,
    nnUNetTrainerTMCA_nullText_cpu, nnUNetTrainerTMCA_nullText_demo, nnUNetTrainerTMCA_nullText_synth,
    nnUNetTrainerTMCA_plainPath, nnUNetTrainerTMCA_plainPath_demo, nnUNetTrainerTMCA_plainPath_synth)
