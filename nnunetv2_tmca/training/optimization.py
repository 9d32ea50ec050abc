"""nnU-Net's SGD + poly schedule, with an optional learning-rate factor for the new (text) modules.

lr_group(t) = lr_scale_group * initial_lr * (1 - t / T)^0.9; the planned U-Net keeps lr_scale 1.
"""
from __future__ import annotations

from collections import ChainMap

import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler


class ScaledPolyLRScheduler(PolyLRScheduler):
    def step(self, current_step=None):
        super().step(current_step)
        for group in self.optimizer.param_groups:
            group['lr'] *= group.get('lr_scale', 1.0)
        self._last_lr = [group['lr'] for group in self.optimizer.param_groups]


def split_parameters(network, text_parameters) -> tuple[list, list]:
    """(parameters of the planned U-Net, the new text-side parameters), in the network's order."""
    text_ids = {id(p) for p in text_parameters}
    params = list(network.parameters())
    return [p for p in params if id(p) not in text_ids], [p for p in params if id(p) in text_ids]


def sgd_with_text_groups(network, text_parameters, initial_lr: float, weight_decay: float, text_lr_scale: float,
                         num_epochs: int):
    unet, text = split_parameters(network, text_parameters)
    optimizer = torch.optim.SGD([{'params': unet, 'lr_scale': 1.0},
                                 {'params': text, 'lr_scale': text_lr_scale}],
                                initial_lr, weight_decay=weight_decay, momentum=0.99, nesterov=True)
    return optimizer, ScaledPolyLRScheduler(optimizer, initial_lr, num_epochs)


class SGDWithAdamWText(torch.optim.Optimizer):
    """nnU-Net's SGD for the planned U-Net and AdamW for the new text modules, as one optimizer object.

    nnU-Net's loop (grad scaler, clipping, poly schedule, checkpoints) sees a single, properly
    initialised ``torch.optim.Optimizer`` whose ``param_groups`` are the SGD group followed by the
    AdamW group -- the very dicts the two inner optimizers step with, so a learning rate set by the
    schedule reaches them. The AdamW group carries ``lr_scale``: the poly schedule gives it
    ``lr_scale * initial_lr``. ``tests/test_optimization.py`` pins this against torch upgrades
    (GradScaler unscale/step, schedule, state_dict round trip, hooks).
    """

    def __init__(self, unet_params, text_params, lr: float, weight_decay: float, text_lr_scale: float,
                 text_weight_decay: float = 0.01):
        sgd = torch.optim.SGD([{'params': unet_params, 'lr_scale': 1.0}], lr, weight_decay=weight_decay,
                              momentum=0.99, nesterov=True)
        # the fused kernel (CPU and CUDA) steps the small text tensors at once
        fused = bool(text_params) and all(p.device.type in ("cpu", "cuda") for p in text_params)
        adamw = torch.optim.AdamW([{'params': text_params, 'lr_scale': text_lr_scale}], lr * text_lr_scale,
                                  weight_decay=text_weight_decay, fused=fused or None)
        super().__init__(sgd.param_groups + adamw.param_groups, {'lr': lr})
        self.sgd, self.adamw = sgd, adamw
        self.state = ChainMap(sgd.state, adamw.state)  # read-only view: the inner optimizers hold the state

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.sgd.step()
        self.adamw.step()
        return loss

    def zero_grad(self, set_to_none: bool = True):
        self.sgd.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self):
        return {'sgd': self.sgd.state_dict(), 'adamw': self.adamw.state_dict()}

    def load_state_dict(self, state_dict):
        self.sgd.load_state_dict(state_dict['sgd'])
        self.adamw.load_state_dict(state_dict['adamw'])


def sgd_with_adamw_text(network, text_parameters, initial_lr: float, weight_decay: float, text_lr_scale: float,
                        num_epochs: int):
    unet, text = split_parameters(network, text_parameters)
    optimizer = SGDWithAdamWText(unet, text, initial_lr, weight_decay, text_lr_scale)
    return optimizer, ScaledPolyLRScheduler(optimizer, initial_lr, num_epochs)
