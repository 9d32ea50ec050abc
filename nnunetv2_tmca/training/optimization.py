"""nnU-Net's SGD + poly schedule, with an optional learning-rate factor for the new (text) modules.

lr_group(t) = lr_scale_group * initial_lr * (1 - t / T)^0.9; the planned U-Net keeps lr_scale 1.
AdamW groups: the new modules at lr_scale 0.1 and, with their own group, scalar gains such as the output
fusion's beta at lr_scale 1: Adam moves a parameter by about lr per step whatever its gradient, so at a small lr
a gain that must reach O(1) to act (beta * z, z of order 5) stays near 0 over a short budget (why:
documentation/benchmarks.md, "Synthetic report-guided segmentation").
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
                 text_weight_decay: float = 0.01, gain_params=(), gain_lr_scale: float = 1.0):
        sgd = torch.optim.SGD([{'params': unet_params, 'lr_scale': 1.0}], lr, weight_decay=weight_decay,
                              momentum=0.99, nesterov=True)
        # the fused kernel (CPU and CUDA) steps the small text tensors at once
        gain_params = list(gain_params)
        fused = bool(text_params) and all(p.device.type in ("cpu", "cuda") for p in list(text_params) + gain_params)
        groups = [{'params': text_params, 'lr_scale': text_lr_scale}]
        if gain_params:
            groups.append({'params': gain_params, 'lr_scale': gain_lr_scale, 'lr': lr * gain_lr_scale})
        adamw = torch.optim.AdamW(groups, lr * text_lr_scale, weight_decay=text_weight_decay, fused=fused or None)
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
                        num_epochs: int, gain_parameters=(), gain_lr_scale: float = 1.0):
    """``gain_parameters`` (a subset of ``text_parameters``): AdamW at ``gain_lr_scale`` in a group of their own."""
    unet, text = split_parameters(network, text_parameters)
    gain_ids = {id(p) for p in gain_parameters}
    gains, text = [p for p in text if id(p) in gain_ids], [p for p in text if id(p) not in gain_ids]
    optimizer = SGDWithAdamWText(unet, text, initial_lr, weight_decay, text_lr_scale, gain_params=gains,
                                 gain_lr_scale=gain_lr_scale)
    return optimizer, ScaledPolyLRScheduler(optimizer, initial_lr, num_epochs)


def backward_and_step(loss, network, optimizer, grad_scaler, max_norm: float = 12.0) -> None:
    """nnU-Net's update: backward (through the grad scaler under AMP), gradient clipping at ``max_norm``, step."""
    if grad_scaler is not None:
        grad_scaler.scale(loss).backward()
        grad_scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(network.parameters(), max_norm)
        grad_scaler.step(optimizer)
        grad_scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), max_norm)
        optimizer.step()


def tmca_optimizer(network, tmca_network, choice: str, initial_lr: float, weight_decay: float, num_epochs: int,
                   text_lr_scale: float, fusion_lr_scale: float):
    """(optimizer, scheduler) for ``choice`` "adamw" (SGD for the U-Net, AdamW for the new modules, the output
    fusion's gain in a group of its own) or "sgd" (nnU-Net's SGD everywhere, the new modules at
    ``text_lr_scale``); None where nnU-Net's own optimizer is exactly that ("sgd" at scale 1)."""
    if choice not in ("adamw", "sgd"):
        raise ValueError(f"text_optimizer must be 'adamw' or 'sgd', not {choice!r}")
    if choice == "sgd" and text_lr_scale == 1.0:
        return None
    text = list(tmca_network.text_parameters())
    if choice == "sgd":
        return sgd_with_text_groups(network, text, initial_lr, weight_decay, text_lr_scale, num_epochs)
    fusion = tmca_network.output_fusion
    return sgd_with_adamw_text(network, text, initial_lr, weight_decay, text_lr_scale, num_epochs,
                               [fusion] if fusion is not None else [], fusion_lr_scale)
