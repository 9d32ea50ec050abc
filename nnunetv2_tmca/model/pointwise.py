"""1x1 (x1) convolutions of the new modules as one batched matrix product.

y_b = W x_b + c for every sample b, with x_b the (C, N) matrix of the sample's N pixels. The weights
stay in the ``nn.Conv2d`` / ``nn.Conv3d`` modules (their parameter names and shapes are unchanged);
only the computation differs. On the CPU, forward + backward of ``torch.baddbmm`` measured 1.7-3x
faster than the 1x1 convolution at the decoder shapes of nnU-Net's 2D plans (benchmarks/lgte_kernels.py).
Elsewhere (CUDA, torch.compile) the convolution itself computes it (kernels.py).
"""
from __future__ import annotations

import torch
from torch import nn

from nnunetv2_tmca.model.kernels import use_custom_kernels


def pointwise_conv(x: torch.Tensor, conv: nn.Module, weight: torch.Tensor | None = None,
                   bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv(x) for a 1x1 convolution ``conv``; ``weight`` / ``bias`` replace the module's own if given."""
    weight = conv.weight if weight is None else weight
    bias = conv.bias if bias is None else bias
    if not use_custom_kernels(x):
        return conv._conv_forward(x, weight, bias)
    b, c = x.shape[:2]
    o = weight.shape[0]
    flat = x.reshape(b, c, -1)
    w = weight.reshape(1, o, c).expand(b, o, c)
    y = torch.bmm(w, flat) if bias is None else torch.baddbmm(bias.reshape(1, o, 1), w, flat)
    return y.reshape(b, o, *x.shape[2:])
