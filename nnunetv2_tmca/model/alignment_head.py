"""Projection of one decoder stage and of the report into the shared (aligned) space.

P_s(x) = phi_s(F_s)(x) / ||.||,  t_s = psi_s(u) / ||.||,
z_s(x) = kappa_s * cos(P_s(x), t_s) + b_s   (pixel-to-report logit; M_s = sigmoid(z_s)).
phi_s is a 1x1 convolution, psi_s a linear layer; kappa_s (init 10) and b_s (init -5) are learned.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class AlignmentHead(nn.Module):
    def __init__(self, channels: int, text_dim: int, align_dim: int, conv_op):
        super().__init__()
        self.pixel_proj = conv_op(channels, align_dim, 1, 1, 0, bias=True)
        self.text_proj = nn.Linear(text_dim, align_dim)
        self.logit_scale = nn.Parameter(torch.tensor(10.0))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, features: torch.Tensor, pooled_text: torch.Tensor) -> dict:
        pixel = F.normalize(self.pixel_proj(features), dim=1)
        text = F.normalize(self.text_proj(pooled_text), dim=1)
        text_b = text.reshape(*text.shape, *([1] * (pixel.ndim - 2)))
        logits = self.logit_scale * (pixel * text_b).sum(1, keepdim=True) + self.logit_bias
        return {"pixel_emb": pixel, "text_emb": text, "logits": logits}
