"""Short training budgets for tests, the demo and CPU benchmarks (image-only and TMCA alike).

A budget fixes epochs x iterations per epoch, validation iterations and the batch size
(nnU-Net sizes batches for a GPU; a CPU budget must set it itself).
"""
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA
from nnunetv2_tmca.training.variants.ablations.tmca_ablations import (
    nnUNetTrainerTMCA_fullGrid, nnUNetTrainerTMCA_globalAlign, nnUNetTrainerTMCA_noAlign, nnUNetTrainerTMCA_noLGTE,
    nnUNetTrainerTMCA_sgd, nnUNetTrainerTMCA_singleLevel)
from nnunetv2_tmca.training.variants.mirroring.text_mirroring import (nnUNetTrainerTMCA_naiveMirror,
                                                                       nnUNetTrainerTMCA_noMirror,
                                                                       nnUNetTrainerTMCA_textMirror)


class BudgetMixin:
    budget_epochs = None
    budget_iterations = None
    budget_val_iterations = None
    budget_batch_size = None

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.budget_epochs or self.num_epochs
        self.num_iterations_per_epoch = self.budget_iterations or self.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = self.budget_val_iterations or self.num_val_iterations_per_epoch
        self.save_every = min(self.save_every, max(1, self.num_epochs // 2))

    def _set_batch_size_and_oversample(self):
        if self.budget_batch_size:
            self.configuration_manager.configuration['batch_size'] = self.budget_batch_size
        super()._set_batch_size_and_oversample()


class DebugBudget(BudgetMixin):
    """2 epochs x 5 iterations, batch 4: checks that everything runs."""
    budget_epochs, budget_iterations, budget_val_iterations, budget_batch_size = 2, 5, 2, 4


class DemoBudget(BudgetMixin):
    """7 epochs x 30 iterations (210), batch 12: nnUNetv2_tmca_demo on 32x32 images, about 2-3 minutes each
    on one CPU core (the demo trains TMCA and the image-only baseline side by side)."""
    budget_epochs, budget_iterations, budget_val_iterations, budget_batch_size = 7, 30, 2, 12


class SynthBudget(BudgetMixin):
    """20 epochs x 50 iterations (1,000), batch 12: the synthetic report-guided benchmark."""
    budget_epochs, budget_iterations, budget_val_iterations, budget_batch_size = 20, 50, 5, 12


class CPUBudget(BudgetMixin):
    """30 epochs x 20 iterations (600), batch 12: real-data CPU benchmarks (QaTa at 112x112: ~13 min)."""
    budget_epochs, budget_iterations, budget_val_iterations, budget_batch_size = 30, 20, 5, 12


class nnUNetTrainer_debug(DebugBudget, nnUNetTrainer):
    pass


class nnUNetTrainerTMCA_debug(DebugBudget, nnUNetTrainerTMCA):
    pass


class nnUNetTrainer_demo(DemoBudget, nnUNetTrainer):
    pass


class nnUNetTrainerTMCA_demo(DemoBudget, nnUNetTrainerTMCA):
    pass


class nnUNetTrainer_synth(SynthBudget, nnUNetTrainer):
    pass


class nnUNetTrainerTMCA_synth(SynthBudget, nnUNetTrainerTMCA):
    pass


class nnUNetTrainerTMCA_adamw_synth(SynthBudget, nnUNetTrainerTMCA):
    """Same as nnUNetTrainerTMCA_synth since AdamW became the default; the name of the benchmark run."""
    text_optimizer, text_lr_scale = "adamw", 0.1


class nnUNetTrainerTMCA_sgd_synth(SynthBudget, nnUNetTrainerTMCA_sgd):
    pass


class nnUNetTrainerTMCA_noAlign_synth(SynthBudget, nnUNetTrainerTMCA_noAlign):
    pass


class nnUNetTrainerTMCA_globalAlign_synth(SynthBudget, nnUNetTrainerTMCA_globalAlign):
    pass


class nnUNetTrainerTMCA_singleLevel_synth(SynthBudget, nnUNetTrainerTMCA_singleLevel):
    pass


class nnUNetTrainerTMCA_noLGTE_synth(SynthBudget, nnUNetTrainerTMCA_noLGTE):
    pass


class nnUNetTrainer_cpu(CPUBudget, nnUNetTrainer):
    pass


class nnUNetTrainerTMCA_cpu(CPUBudget, nnUNetTrainerTMCA):
    pass


class nnUNetTrainerTMCA_textMirror_debug(DebugBudget, nnUNetTrainerTMCA_textMirror):
    pass


class nnUNetTrainerTMCA_textMirror_synth(SynthBudget, nnUNetTrainerTMCA_textMirror):
    pass


class nnUNetTrainerTMCA_naiveMirror_synth(SynthBudget, nnUNetTrainerTMCA_naiveMirror):
    pass


class nnUNetTrainerTMCA_textMirror_cpu(CPUBudget, nnUNetTrainerTMCA_textMirror):
    pass


class nnUNetTrainerTMCA_naiveMirror_cpu(CPUBudget, nnUNetTrainerTMCA_naiveMirror):
    pass


class nnUNetTrainerTMCA_noMirror_debug(DebugBudget, nnUNetTrainerTMCA_noMirror):
    pass


class nnUNetTrainerTMCA_noMirror_synth(SynthBudget, nnUNetTrainerTMCA_noMirror):
    pass


class nnUNetTrainerTMCA_noMirror_cpu(CPUBudget, nnUNetTrainerTMCA_noMirror):
    pass


class nnUNetTrainerTMCA_fullGrid_synth(SynthBudget, nnUNetTrainerTMCA_fullGrid):
    pass


class nnUNetTrainerTMCA_fullGrid_cpu(CPUBudget, nnUNetTrainerTMCA_fullGrid):
    pass
