"""Projection of one decoder stage's image evidence and of the report into the shared (aligned) space.

P_s(x) = phi_s(S_s)(x) + W_p pos(x)  (pos: coordinate features, see position.py),  t_s = psi_s(u) / ||psi_s(u)||,
z_s(x) = kappa_s * <P_s(x), t_s> / ||P_s(x)|| + b_s + r_s^T m_s(x)   (M_s = sigmoid(z_s)),
m_s the cross-modal attention mixture at x (block-upsampled from the attention grid) where the stage
has one: what the report's tokens say about this pixel.
S_s, the head's pixel input, is the encoder's skip at stage s's resolution (``align_features = "skip"``, the
default): the tensor the decoder concatenates at that stage, computed from the image alone, the "low-level
image features" of the paper's multi-level alignment. So P_s and the region embeddings pooled from it
(TSSD) never depend on the report; only the logit z_s (through t_s and m_s) does, so the target map stays
report-conditioned. ``align_features = "decoder"`` reads the decoder features F_s after cross-attention and
FiLM instead, which carry the report (FiLM's beta(u) adds a report-only offset to every pixel, and every
coarser stage's LGTE has already acted on F_s).
phi_s is a 1x1 convolution, psi_s a linear layer; kappa_s (init 10) and b_s (init -5) are learned;
``use_position = False`` drops W_p pos(x).
The unit pixel embeddings P_s / ||P_s|| are never materialised at full resolution: the head returns
the raw projection and 1 / ||P_s||, and the losses pool with those (same values, less memory traffic).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnunetv2_tmca.model.attention_grid import add_block_upsampled
from nnunetv2_tmca.model.position import PositionProjection


class AlignmentHead(nn.Module):
    def __init__(self, channels: int, text_dim: int, align_dim: int, conv_op, attention_channels: int | None = None,
                 use_position: bool = True):
        super().__init__()
        self.attention_readout = conv_op(attention_channels, 1, 1, 1, 0, bias=False) if attention_channels else None
        self.pixel_proj = conv_op(channels, align_dim, 1, 1, 0, bias=True)
        self.pixel_position = PositionProjection(align_dim, conv_op) if use_position else None
        self.text_proj = nn.Linear(text_dim, align_dim)
        self.logit_scale = nn.Parameter(torch.tensor(10.0))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, features: torch.Tensor, pooled_text: torch.Tensor, attended: torch.Tensor | None = None,
                attention_pool=None) -> dict:
        """``features``: the pixel input S_s (see the module docstring); ``attended``: the attention mixture m on
        the attention grid, pooled by ``attention_pool`` or not."""
        pixel = self.pixel_proj(features)  # (B, e, *S)
        if self.pixel_position is not None:
            pixel = pixel + self.pixel_position(features)
        b, e = pixel.shape[:2]
        flat = pixel.reshape(b, e, -1)
        # 1 / max(||P||, 1e-6), (B, 1, N), as a sum of squares: faster than vector_norm across dim 1
        # (documentation/benchmarks.md, "CPU kernels")
        inv_norm = (flat * flat).sum(1, keepdim=True).clamp_min(1e-12).rsqrt()
        text = F.normalize(self.text_proj(pooled_text), dim=1)
        cos = torch.bmm(text[:, None, :], flat) * inv_norm  # (B, 1, N)
        logits = (self.logit_scale * cos + self.logit_bias).reshape(b, 1, *pixel.shape[2:])
        if self.attention_readout is not None and attended is not None:
            # r^T up(A) = up(r^T A) for the block upsampling: read out on the grid, then spread
            logits = add_block_upsampled(logits, self.attention_readout(attended), attention_pool)
        return {"pixel_emb": pixel, "pixel_inv_norm": inv_norm.reshape(b, 1, *pixel.shape[2:]), "text_emb": text,
                "logits": logits}
