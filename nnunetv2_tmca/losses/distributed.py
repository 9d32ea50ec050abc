"""Gather contrastive rows from all DDP ranks (negatives across GPUs), keeping local gradients.

Ranks may hold different batch sizes (nnU-Net splits the global batch unevenly), so rows are
padded to the largest one and a validity mask travels with them.
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
