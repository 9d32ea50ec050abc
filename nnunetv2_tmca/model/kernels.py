"""Which implementation of the new modules' small kernels runs where: the one place that decides.

Three operations of the LGTE block and the alignment heads have two implementations with equal
outputs and gradients (tests/test_compile_amp.py):

| operation | "custom" (hand-made) | "native" (PyTorch's own op) |
|---|---|---|
| 2^k block mean of the attention grid | sum of strided slices (``attention_grid.py``) | ``avg_pool2d/3d`` |
| x + block upsampling of c | strided-slice writes (``attention_grid.py``) | broadcast add of (..., s, k) views |
| 1x1 convolution | ``torch.baddbmm`` (``pointwise.py``) | the convolution (cuDNN on CUDA) |

"auto" (the default) uses the custom kernels on the CPU in eager mode, where they measured faster
(benchmarks/lgte_kernels.py), and the native ops on any other device (CUDA: cuDNN and PyTorch's
fused kernels; benchmarks/gpu_check.py times both there) and whenever torch.compile traces the
network: the compiler fuses the plain ops itself, and the custom functions' slice writes with ``out=``
break dynamo's graph.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

CHOICES = ("auto", "custom", "native")
_choice = "auto"


def use_custom_kernels(x: torch.Tensor) -> bool:
    """True if the hand-made kernel should compute on ``x`` (see the module docstring)."""
    if _choice == "auto":
        return x.device.type == "cpu" and not torch.compiler.is_compiling()
    return _choice == "custom"


@contextmanager
def kernel_choice(choice: str):
    """Force "custom" or "native" kernels (or "auto") inside the block: for tests and benchmarks."""
    global _choice
    if choice not in CHOICES:
        raise ValueError(f"kernel choice must be one of {CHOICES}, not {choice!r}")
    previous, _choice = _choice, choice
    try:
        yield
    finally:
        _choice = previous
