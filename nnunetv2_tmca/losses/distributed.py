"""Gather contrastive rows from all DDP ranks (negatives across GPUs), keeping local gradients.

Ranks may hold different batch sizes (nnU-Net splits the global batch unevenly), so rows are
padded to the largest one and a validity mask travels with them.

Gradient: every rank computes the same loss L over the same gathered rows, but only its own rows
x_r carry autograd, so rank r's parameter gradient is dL/dtheta restricted to the path through x_r,
and DDP *averages* over the W ranks: (1/W) sum_r dL/dtheta|x_r = (1/W) dL/dtheta. ``world_scaled``
multiplies the gradient (not the value) by W, L' = W L - (W - 1) stop_grad(L), so that the averaged
gradient equals the single-process gradient of L on the concatenated batch (no extra communication,
any backend; tests/test_distributed.py checks it with gloo, 2 processes against 1).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenate the rows of each tensor over ranks; returns the tensors plus a row-valid mask.

    The local rows keep their autograd graph; rows of other ranks are constants.
    """
    n = tensors[0].shape[0]
    valid = torch.ones(n, dtype=torch.bool, device=tensors[0].device)
    if not is_distributed():
        return (*tensors, valid)
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = [torch.zeros(1, dtype=torch.long, device=valid.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([n], device=valid.device))
    max_n = int(max(s.item() for s in sizes))
    out = []
    for t in (*tensors, valid):
        padded = torch.zeros((max_n, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[:n] = t.detach()
        parts = [torch.zeros_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        parts[rank] = torch.cat([t, padded[n:]]) if t.requires_grad else padded
        out.append(torch.cat([p[:int(s.item())] for p, s in zip(parts, sizes)]))
    return tuple(out)


def world_scaled(loss: torch.Tensor) -> torch.Tensor:
    """Same value, gradient times the world size (see the module docstring); identity without DDP."""
    if not is_distributed():
        return loss
    world = dist.get_world_size()
    return loss * world - loss.detach() * (world - 1)
