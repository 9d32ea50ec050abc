"""Pixel-level report alignment: target pixels toward their report, background away.

With z(x) = kappa * cos(P(x), t) + b from the stage's alignment head and Y(x) the target,
L_pixel = 1/2 [ mean_{Y=1} softplus(-z) + 1/2 (mean_{Y=0} softplus(z) + mean_{hard} softplus(z)) ],
a class-balanced BCE whose background half also averages the k hardest background pixels
(k = number of target pixels, at least 16): plain background is learned in a few steps, the
informative negatives are look-alike structures the report does not name (hard-negative mining).
Averaged over cases with a report; pixels under nnU-Net's ignore label are left out.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def pixel_alignment_loss(logits: torch.Tensor, target: torch.Tensor, case_valid: torch.Tensor,
                         pixel_valid: torch.Tensor | None = None) -> torch.Tensor:
    """logits, target (B, 1, *S); case_valid (B,) bool; pixel_valid (B, 1, *S) or None."""
    if not case_valid.any():
        return logits.sum() * 0
    z, y = logits[case_valid].float().flatten(1), target[case_valid].float().flatten(1)
    ok = pixel_valid[case_valid].float().flatten(1) if pixel_valid is not None else torch.ones_like(y)
    pos, neg = y * ok, (1 - y) * ok
    pos_term = (F.softplus(-z) * pos).sum(1) / pos.sum(1).clamp_min(1)
    neg_loss = F.softplus(z) * neg
    neg_term = neg_loss.sum(1) / neg.sum(1).clamp_min(1)
    k = int(min(neg_loss.shape[1], max(16, int(pos.sum(1).max().item()))))
    hardest = neg_loss.topk(k, dim=1).values.sum(1) / neg.sum(1).clamp(min=1, max=k)
    neg_term = 0.5 * (neg_term + hardest)
    has_pos = (pos.sum(1) > 0).float()
    return (0.5 * (pos_term * has_pos + neg_term * (2 - has_pos))).mean()
