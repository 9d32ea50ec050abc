"""Short training budgets for tests, the demo and CPU benchmarks (image-only and TMCA alike).

A budget fixes epochs x iterations per epoch, validation iterations and the batch size (nnU-Net
sizes batches for a GPU; a CPU budget must set it itself). ``budget_trainer`` is the one
mechanism: the named budgets below (``<trainer>_debug``, ``_demo``, ``_synth``, ``_cpu`` for every
trainer of the package and ``nnUNetTrainer``) and the custom budgets of the benchmark scripts
(``experiments.budgets.write_budget_trainers``) are all made by it.
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


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


# name -> (epochs, iterations per epoch, validation iterations, batch size)
NAMED_BUDGETS = {
    "debug": (2, 5, 2, 4),    # checks that everything runs
    "demo": (7, 30, 2, 12),   # nnUNetv2_tmca_demo on 32x32 images
    "synth": (20, 50, 5, 12),  # the synthetic report-guided benchmark
    "cpu": (30, 20, 5, 12),   # real-data CPU benchmarks (QaTa-COV19 at 112x112)
}


def budget_trainer(base: type, name: str, epochs: int, iterations: int, val_iterations: int, batch_size: int,
                   module: str = __name__) -> type:
    """``base`` trained for ``epochs`` x ``iterations`` at ``batch_size``, as a class named ``name``."""
    return type(name, (BudgetMixin, base), {
        "__module__": module, "__doc__": f"{base.__name__}: {epochs} epochs x {iterations} iterations, batch "
                                         f"{batch_size}.",
        "budget_epochs": int(epochs), "budget_iterations": int(iterations),
        "budget_val_iterations": int(val_iterations), "budget_batch_size": int(batch_size)})


def named_budget_trainers(bases) -> dict:
    """name -> class for every base trainer (and nnUNetTrainer) at every named budget."""
    out = {}
    for base in [nnUNetTrainer, *bases]:
        for budget, settings in NAMED_BUDGETS.items():
            name = f"{base.__name__}_{budget}"
            out[name] = budget_trainer(base, name, *settings)
    return out
