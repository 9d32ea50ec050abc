"""The attention grid of an LGTE stage: pooled queries, block-upsampled output.

At a decoder stage finer than ``grid_fraction`` of the patch (per axis), attention runs on the stage's
features average-pooled by power-of-two factors k = (k_1, ..., k_D),
    pool_k(F)(y) = mean_{o in [0, k)} F(k y + o),
and its output is spread back by nearest (block) upsampling, up_k(A)(x) = A(floor(x / k)).
Both are computed as sums over the prod(k) strided slices F[o::k] (with their exact adjoints as the
backward pass): on the CPU 2-3.4x faster than avg_pool / broadcasting views of (..., s, k) blocks
(benchmarks/lgte_kernels.py). Elsewhere (CUDA, torch.compile) those PyTorch ops compute it (kernels.py).
"""
from __future__ import annotations

import itertools

import torch
from torch.nn import functional as F

from nnunetv2_tmca.model.kernels import use_custom_kernels


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


def _offsets(pool):
    """Index tuples (..., o_1::k_1, ..., o_D::k_D) of the prod(k) strided slices of a block grid."""
    return [(Ellipsis, *(slice(o, None, k) for o, k in zip(offset, pool)))
            for offset in itertools.product(*(range(k) for k in pool))]


def _block_sum(x: torch.Tensor, pool) -> torch.Tensor:
    slices = _offsets(pool)
    out = x[slices[0]].clone()
    for s in slices[1:]:
        out += x[s]
    return out


def _spread_add(fine: torch.Tensor, coarse: torch.Tensor, pool) -> torch.Tensor:
    """fine + up_k(coarse) (coarse may have 1 channel for C); a new tensor."""
    out = fine.new_empty(fine.shape, dtype=torch.promote_types(fine.dtype, coarse.dtype))  # (mixed precision)
    for s in _offsets(pool):
        torch.add(fine[s], coarse, out=out[s])
    return out


class _BlockMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, pool):
        ctx.pool, ctx.shape = pool, x.shape
        count = 1
        for k in pool:
            count *= k
        ctx.count = count
        return _block_sum(x, pool).div_(count)

    @staticmethod
    def backward(ctx, grad):
        g = grad / ctx.count
        out = grad.new_empty(ctx.shape)
        for s in _offsets(ctx.pool):
            out[s] = g
        return out, None


class _AddBlockUpsampled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fine, coarse, pool):
        ctx.pool, ctx.coarse_channels, ctx.dtypes = pool, coarse.shape[1], (fine.dtype, coarse.dtype)
        return _spread_add(fine, coarse, pool)

    @staticmethod
    def backward(ctx, grad):
        g_coarse = _block_sum(grad, ctx.pool)
        if ctx.coarse_channels != grad.shape[1]:  # coarse was broadcast over the channels
            g_coarse = g_coarse.sum(1, keepdim=True)
        return grad.to(ctx.dtypes[0]), g_coarse.to(ctx.dtypes[1]), None


def _interleaved(shape, pool):
    """(s_1, k_1, ..., s_D, k_D) for coarse sizes s and pooling k (k may be all ones)."""
    return [v for s, k in zip(shape, pool) for v in (s, k)]


def avg_pool_grid(x: torch.Tensor, pool) -> torch.Tensor:
    """pool_k(x); x (B, C, *S) with each S_a divisible by k_a."""
    pool = tuple(pool)
    if use_custom_kernels(x):
        return _BlockMean.apply(x, pool)
    return (F.avg_pool2d if x.ndim == 4 else F.avg_pool3d)(x, pool, pool)


def add_block_upsampled(fine: torch.Tensor, coarse: torch.Tensor, pool=None) -> torch.Tensor:
    """fine + up_k(coarse) (pool None: fine + coarse); coarse has fine's channels or one channel."""
    if pool is None:
        return fine + coarse
    pool = tuple(pool)
    if use_custom_kernels(fine):
        return _AddBlockUpsampled.apply(fine, coarse, pool)
    b, c = fine.shape[:2]
    blocks = fine.reshape(b, c, *_interleaved(coarse.shape[2:], pool))
    spread = coarse.reshape(b, coarse.shape[1], *_interleaved(coarse.shape[2:], [1] * len(pool)))
    return (blocks + spread).reshape(fine.shape)
