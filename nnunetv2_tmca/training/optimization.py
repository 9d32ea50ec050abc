"""nnU-Net's SGD + poly schedule, with an optional learning-rate factor for the new (text) modules.

lr_group(t) = lr_scale_group * initial_lr * (1 - t / T)^0.9; the planned U-Net keeps lr_scale 1.
"""
from __future__ import annotations

import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler


class ScaledPolyLRScheduler(PolyLRScheduler):
    def step(self, current_step=None):
        super().step(current_step)
        for group in self.optimizer.param_groups:
            group['lr'] *= group.get('lr_scale', 1.0)
        self._last_lr = [group['lr'] for group in self.optimizer.param_groups]


def sgd_with_text_groups(network, text_parameters, initial_lr: float, weight_decay: float, text_lr_scale: float,
                         num_epochs: int):
    text_ids = {id(p) for p in text_parameters}
    unet = [p for p in network.parameters() if id(p) not in text_ids]
    text = [p for p in network.parameters() if id(p) in text_ids]
    optimizer = torch.optim.SGD([{'params': unet, 'lr_scale': 1.0},
                                 {'params': text, 'lr_scale': text_lr_scale}],
                                initial_lr, weight_decay=weight_decay, momentum=0.99, nesterov=True)
    return optimizer, ScaledPolyLRScheduler(optimizer, initial_lr, num_epochs)
