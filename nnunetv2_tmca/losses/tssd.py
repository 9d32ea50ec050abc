"""Target-sensitive semantic distance (TSSD) and the region-report contrastive term.

Region embedding of case i at a stage: v_i = normalize(sum_x Y_i(x) P^_i(x) / sum_x Y_i(x)),
P^ the unit pixel embeddings (from the encoder skip: image evidence no report has touched),
pooled inside the ground-truth target Y_i, not over the whole image.
Distance to report j: d(i, j) = 1 - cos(v_i, t_j).
Soft targets: q_ij = s_ij / sum_j s_ij with s_ij = 1 if
  - reports i and j are the same text group (identical after normalisation, or the same key drawn twice), or
  - sim(i, j) >= theta (``positive_pairs``), where sim, by the ``positives`` setting of the loss, is
    "target": cos(D_i, D_j), D = normalize(G_1.5 * avgpool_8(Y)) the target's occupancy on an 8-cell grid per
      axis, Gaussian-blurred (sigma 1.5 cells): cases whose targets lie at the same place of the patch, so two
      paraphrases of one finding ("Two lesions, upper left and lower right." / "There are 2 nodules: upper left
      and lower right.") are positives, not negatives; theta = 0.95;
    (the frozen encoder's report cosine is no candidate: a general sentence encoder scores a side swap, same
      words, closer than a paraphrase; documentation/benchmarks.md, Positive pairs);
    "group": no similarity, exact groups only (the trainer's default),
  else 0.
L_region = 1/2 [ CE(q_i., softmax_j(-d(i, j) / tau)) averaged over cases with a target
               + CE(q_.j, softmax_i(-d(i, j) / tau)) averaged over reports with a positive ].
Cases without target (empty patch) skip the term; if no pair is informative it is 0.
Why pooling inside the target (not the whole image) and "group" positives by default: documentation/benchmarks.md,
Nested ablations.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def region_embeddings(pixel_emb: torch.Tensor, target: torch.Tensor, inv_norm: torch.Tensor | None = None,
                      eps: float = 1e-6):
    """pixel_emb (B, e, *S), target (B, 1, *S) in {0,1} -> v (B, e) unit vectors, has_target (B,).

    With ``inv_norm`` = 1 / ||pixel_emb|| per pixel (B, 1, *S) the pixels are unit-normalised on the fly.
    """
    b, e = pixel_emb.shape[:2]
    w = target.to(pixel_emb.dtype).reshape(b, -1)
    area = w.sum(1)
    if inv_norm is not None:
        w = w * inv_norm.reshape(b, -1).to(w.dtype)
    pooled = torch.bmm(pixel_emb.reshape(b, e, -1), w[:, :, None])[:, :, 0] / area.clamp_min(eps)[:, None]
    return F.normalize(pooled, dim=1, eps=eps), area > 0


def target_descriptor(target: torch.Tensor, grid: int = 8, sigma: float = 1.5) -> torch.Tensor:
    """(B, 1, *S) target -> D (B, prod(grid per axis)) unit vectors (zero for an empty target), see above."""
    dims = target.ndim - 2
    pool = F.adaptive_avg_pool2d if dims == 2 else F.adaptive_avg_pool3d
    occupancy = pool(target.float(), tuple(min(grid, n) for n in target.shape[2:]))[:, 0]
    radius = int(math.ceil(3 * sigma))
    kernel = torch.exp(-torch.arange(-radius, radius + 1, dtype=occupancy.dtype, device=occupancy.device) ** 2
                       / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).reshape(1, 1, -1)
    for axis in range(1, dims + 1):  # separable blur, zero padding
        moved = occupancy.movedim(axis, -1)
        blurred = F.conv1d(moved.reshape(-1, 1, moved.shape[-1]), kernel, padding=radius)
        occupancy = blurred.reshape(moved.shape).movedim(-1, axis)
    return F.normalize(occupancy.flatten(1), dim=1)


def positive_pairs(groups: torch.Tensor, similarity: torch.Tensor | None = None,
                   threshold: float = 0.95) -> torch.Tensor:
    """s_ij: the same text group, or (with a similarity matrix) sim(i, j) >= threshold; (B, B) bool."""
    same = groups[:, None] == groups[None, :]
    return same if similarity is None else same | (similarity >= threshold)


def semantic_distance(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """d(i, j) = 1 - cos(v_i, t_j) for unit vectors; (B_v, B_t)."""
    return 1 - v @ t.t()


def soft_contrastive(distance: torch.Tensor, positives: torch.Tensor, row_valid: torch.Tensor,
                     col_valid: torch.Tensor, tau: float) -> torch.Tensor:
    logits = (-distance / tau).float()
    pos = positives.float() * row_valid[:, None] * col_valid[None, :]
    neg_inf = torch.finfo(logits.dtype).min

    def one_direction(lg, p, rows_ok, cols_ok):
        lg = lg.masked_fill(~cols_ok[None, :], neg_inf)
        rows = rows_ok & (p.sum(1) > 0)
        if not rows.any():
            return distance.sum() * 0  # keeps the graph connected (DDP) without NaN
        q = p[rows] / p[rows].sum(1, keepdim=True)
        logp = F.log_softmax(lg[rows], dim=1).masked_fill(~cols_ok[None, :], 0)
        return -(q * logp).sum(1).mean()

    return 0.5 * (one_direction(logits, pos, row_valid, col_valid)
                  + one_direction(logits.t(), pos.t(), col_valid, row_valid))
