"""Coordinate features of a feature map, so that words of place ("upper left") can be matched.

For a map of spatial shape S the normalised coordinates c_a in [-1, 1] along each axis a give
pos(x) = [sin(pi 2^k c_a(x)), cos(pi 2^k c_a(x))]_{a, k<K}, 4K channels in 2D, 6K in 3D. Convolutional
features carry little absolute position, yet reports locate their targets by side and zone; the
cross-attention queries and the aligned pixel embeddings each add a learned projection of pos.
Coordinates are those of the network input (the patch): nnU-Net's 2D patches usually cover the image.
Why they are on: documentation/benchmarks.md, "Nested ablations" (without them the model falls to the
image-only level).
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn


def _coordinate_features(shape: tuple, device, dtype, num_frequencies: int = 2) -> torch.Tensor:
    axes = [torch.linspace(-1, 1, n, device=device, dtype=dtype) for n in shape]
    grids = torch.meshgrid(*axes, indexing="ij")
    feats = []
    for g in grids:
        for k in range(num_frequencies):
            feats += [torch.sin(math.pi * 2 ** k * g / 2), torch.cos(math.pi * 2 ** k * g / 2)]
    return torch.stack(feats)[None]


@lru_cache(maxsize=32)
def coordinate_features(shape: tuple, device, dtype, num_frequencies: int = 2) -> torch.Tensor:
    """(1, 2 * K * dims, *shape); cached per (shape, device, dtype), never modified in place.

    Made outside inference mode, so that a tensor cached during prediction can serve training later.
    """
    with torch.inference_mode(False), torch.no_grad():
        return _coordinate_features(shape, device, dtype, num_frequencies)


class PositionProjection(nn.Module):
    """pos(x) -> R^out via a 1x1 convolution (conv_op decides 2D or 3D)."""

    def __init__(self, out_channels: int, conv_op, num_frequencies: int = 2):
        super().__init__()
        dims = 3 if conv_op is nn.Conv3d else 2
        self.num_frequencies = num_frequencies
        self.proj = conv_op(2 * num_frequencies * dims, out_channels, 1, 1, 0, bias=False)

    def forward(self, reference: torch.Tensor) -> torch.Tensor:
        # traced by torch.compile, which folds the constant itself (dynamo does not honour lru_cache)
        features = _coordinate_features if torch.compiler.is_compiling() else coordinate_features
        pos = features(tuple(reference.shape[2:]), reference.device, reference.dtype, self.num_frequencies)
        return self.proj(pos)
