"""The attention grid of an LGTE stage: pooled queries, block-upsampled output.

At a decoder stage finer than ``grid_fraction`` of the patch (per axis), attention runs on the stage's
features average-pooled by power-of-two factors k = (k_1, ..., k_D),
    pool_k(F)(y) = mean_{o in [0, k)} F(k y + o),
and its output is spread back by nearest (block) upsampling, up_k(A)(x) = A(floor(x / k)).
pool_k is ``F.avg_pool2d`` / ``F.avg_pool3d``; x + up_k(A) is one broadcast add over (..., s_a, k_a) views of x,
so the upsampled A is never materialised. One hand-written kernel remains, chosen by ``use_slice_block_mean``:
2D inference on the CPU computes pool_k as the mean of the prod(k) strided slices F[..., o_1::k_1, o_2::k_2]
(why: documentation/benchmarks.md, "CPU kernels").
"""
from __future__ import annotations

import itertools

import torch
from torch.nn import functional as F


def query_pooling(feature_shape, input_shape, grid_fraction: float | None):
    """Per-axis power-of-two pooling k_a so that the attention grid is about ``grid_fraction`` of the input
    along axis a (k_a divides the feature size); None: no pooling needed."""
    if grid_fraction is None:
        return None
    pool = []
    for f, n in zip(feature_shape, input_shape):
        k = 1
        while f % (2 * k) == 0 and f / (2 * k) >= grid_fraction * n:
            k *= 2
        pool.append(k)
    return tuple(pool) if any(k > 1 for k in pool) else None


def use_slice_block_mean(x: torch.Tensor) -> bool:
    """The one kernel dispatch: True for a 2D map (B, C, H, W) on the CPU outside autograd and torch.compile
    (CPU inference), where ``block_mean_by_slices`` computes pool_k; training, CUDA, 3D and compiled graphs use
    ``block_mean_by_pooling``."""
    return x.ndim == 4 and x.device.type == "cpu" and not torch.is_grad_enabled() \
        and not torch.compiler.is_compiling()


def block_mean_by_slices(x: torch.Tensor, pool) -> torch.Tensor:
    """pool_k(x) = (1 / prod(k)) sum_o x[..., o_1::k_1, ..., o_D::k_D]; x (B, C, *S), each S_a divisible by k_a."""
    slices = [(Ellipsis, *(slice(o, None, k) for o, k in zip(offset, pool)))
              for offset in itertools.product(*(range(k) for k in pool))]
    out = x[slices[0]].clone()
    for s in slices[1:]:
        out += x[s]
    return out.div_(len(slices))


def block_mean_by_pooling(x: torch.Tensor, pool) -> torch.Tensor:
    """pool_k(x) by PyTorch's average pooling (kernel = stride = k)."""
    return (F.avg_pool2d if x.ndim == 4 else F.avg_pool3d)(x, pool, pool)


def avg_pool_grid(x: torch.Tensor, pool) -> torch.Tensor:
    """pool_k(x); x (B, C, *S) with each S_a divisible by k_a."""
    pool = tuple(pool)
    return block_mean_by_slices(x, pool) if use_slice_block_mean(x) else block_mean_by_pooling(x, pool)


def _interleaved(shape, pool):
    """(s_1, k_1, ..., s_D, k_D) for coarse sizes s and pooling k (k may be all ones)."""
    return [v for s, k in zip(shape, pool) for v in (s, k)]


def add_block_upsampled(fine: torch.Tensor, coarse: torch.Tensor, pool=None) -> torch.Tensor:
    """fine + up_k(coarse) (pool None: fine + coarse); coarse has fine's channels or one channel."""
    if pool is None:
        return fine + coarse
    b, c = fine.shape[:2]
    blocks = fine.reshape(b, c, *_interleaved(coarse.shape[2:], pool))
    spread = coarse.reshape(b, coarse.shape[1], *_interleaved(coarse.shape[2:], [1] * len(pool)))
    return (blocks + spread).reshape(fine.shape)
