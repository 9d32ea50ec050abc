"""Projection of one decoder stage and of the report into the shared (aligned) space.

P_s(x) = phi_s(F_s)(x) + W_p pos(x)  (pos: coordinate features, see position.py),  t_s = psi_s(u) / ||psi_s(u)||,
z_s(x) = kappa_s * <P_s(x), t_s> / ||P_s(x)|| + b_s + r_s^T A_s(x)   (M_s = sigmoid(z_s)),
A_s the (ungated) cross-modal attention output at x where the stage has one: what the report's
tokens say about this pixel. The cosine part uses image features only, so the region embeddings
of the contrastive loss never see the report.
phi_s is a 1x1 convolution, psi_s a linear layer; kappa_s (init 10) and b_s (init -5) are learned.
The unit pixel embeddings P_s / ||P_s|| are never materialised at full resolution: the head returns
the raw projection and 1 / ||P_s||, and the losses pool with those (same values, less memory traffic).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnunetv2_tmca.model.position import PositionProjection


class AlignmentHead(nn.Module):
    def __init__(self, channels: int, text_dim: int, align_dim: int, conv_op, attention_readout: bool = False):
        super().__init__()
        self.attention_readout = conv_op(channels, 1, 1, 1, 0, bias=False) if attention_readout else None
        self.pixel_proj = conv_op(channels, align_dim, 1, 1, 0, bias=True)
        self.pixel_position = PositionProjection(align_dim, conv_op)
        self.text_proj = nn.Linear(text_dim, align_dim)
        self.logit_scale = nn.Parameter(torch.tensor(10.0))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, features: torch.Tensor, pooled_text: torch.Tensor, attended: torch.Tensor | None = None) -> dict:
        pixel = self.pixel_proj(features) + self.pixel_position(features)  # (B, e, *S)
        b, e = pixel.shape[:2]
        flat = pixel.reshape(b, e, -1)
        inv_norm = torch.linalg.vector_norm(flat, dim=1, keepdim=True).clamp_min(1e-6).reciprocal()  # (B, 1, N)
        text = F.normalize(self.text_proj(pooled_text), dim=1)
        cos = torch.bmm(text[:, None, :], flat) * inv_norm  # (B, 1, N)
        logits = (self.logit_scale * cos + self.logit_bias).reshape(b, 1, *pixel.shape[2:])
        if self.attention_readout is not None and attended is not None:
            logits = logits + self.attention_readout(attended)
        return {"pixel_emb": pixel, "pixel_inv_norm": inv_norm.reshape(b, 1, *pixel.shape[2:]), "text_emb": text,
                "logits": logits}
