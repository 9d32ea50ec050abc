"""The hand-made kernels behind the LGTE block's cost, each next to its plain PyTorch equivalent.

Forward + backward times (ms, median of repeats) at the decoder shapes of nnU-Net's 2D plans, batch 12:
the block-pooling / block-upsampling of ``model/attention_grid.py`` vs ``avg_pool2d`` / a broadcast add,
the 1x1 convolutions of ``model/pointwise.py`` vs ``F.conv2d``, the whole attention block on its pooled
grid vs at full resolution, and the fused AdamW step vs the per-tensor loop. Outputs agree (checked).
"ours" forces the hand-made kernels (``model/kernels.py`` uses them only on the CPU): a speed-up below 1
on a device says the native op is the right choice there.

    python benchmarks/lgte_kernels.py
    python benchmarks/lgte_kernels.py --device cuda
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from nnunetv2_tmca.model.attention_grid import add_block_upsampled, avg_pool_grid
from nnunetv2_tmca.model.kernels import kernel_choice
from nnunetv2_tmca.model.lgte import CrossModalAttention
from nnunetv2_tmca.model.pointwise import pointwise_conv


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fwd_bwd_ms(fn, inputs, repeats: int, device: str = "cpu") -> float:
    times = []
    for i in range(repeats + 2):
        for t in inputs:
            t.grad = None
        sync(device)
        start = time.perf_counter()
        out = fn()
        out.backward(torch.ones_like(out))
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def custom(fn):
    """fn computed with the hand-made kernels, whatever the device."""
    def run():
        with kernel_choice("custom"):
            return fn()
    return run


def kernel_rows(device: str = "cpu", repeats: int = 20) -> list:
    """(operation, plain op, plain ms, ours ms) for each kernel, fwd + bwd at batch 12 on ``device``."""
    torch.manual_seed(0)
    r, dev = repeats, torch.device(device)
    rows = []
    x = torch.randn(12, 64, 32, 32, device=dev, requires_grad=True)
    c = torch.randn(12, 64, 16, 16, device=dev, requires_grad=True)
    pool, broadcast = custom(lambda: avg_pool_grid(x, (2, 2))), \
        lambda: (x.reshape(12, 64, 16, 2, 16, 2) + c.reshape(12, 64, 16, 1, 16, 1)).reshape(x.shape)
    spread = custom(lambda: add_block_upsampled(x, c, (2, 2)))
    assert torch.allclose(pool(), F.avg_pool2d(x, 2, 2), atol=1e-6) and torch.allclose(spread(), broadcast())
    rows.append(("2x2 block mean of (12, 64, 32, 32)", "F.avg_pool2d",
                 fwd_bwd_ms(lambda: F.avg_pool2d(x, 2, 2), [x], r, device), fwd_bwd_ms(pool, [x], r, device)))
    rows.append(("x + 2x2 block upsampling of c", "broadcast (..., s, k) views",
                 fwd_bwd_ms(broadcast, [x, c], r, device), fwd_bwd_ms(spread, [x, c], r, device)))
    for cin, size, cout in ((128, 16, 64), (64, 56, 64), (64, 112, 32)):
        conv = torch.nn.Conv2d(cin, cout, 1).to(dev)
        y = torch.randn(12, cin, size, size, device=dev, requires_grad=True)
        ours = custom(lambda: pointwise_conv(y, conv))
        assert torch.allclose(ours(), conv(y), atol=1e-4)
        rows.append((f"1x1 conv {cin}->{cout} at {size}x{size}", "F.conv2d",
                     fwd_bwd_ms(lambda: conv(y), [y], max(3, r // 4), device),
                     fwd_bwd_ms(ours, [y], max(3, r // 4), device)))
    att = CrossModalAttention(64, 128, 64, 4).to(dev)
    torch.nn.init.normal_(att.gate)
    tokens, mask = torch.randn(12, 24, 128, device=dev), torch.ones(12, 24, dtype=torch.bool, device=dev)
    rows.append(("attention block, 64 ch at 32x32 (grid 16x16)", "full-resolution grid",
                 fwd_bwd_ms(lambda: att(x, tokens, mask)[0], [x], r, device),
                 fwd_bwd_ms(lambda: att(x, tokens, mask, (2, 2))[0], [x], r, device)))

    params = [torch.nn.Parameter(torch.randn(*s, device=dev)) for s in [(128, 384), (128,), (128, 128)] * 20]
    for q in params:
        q.grad = torch.randn_like(q)
    step_ms = []
    for kw in ({}, {"fused": True}):
        opt = torch.optim.AdamW(params, 1e-3, **kw)
        times = []
        for i in range(r + 2):
            sync(device)
            start = time.perf_counter()
            opt.step()
            sync(device)
            if i >= 2:
                times.append(time.perf_counter() - start)
        step_ms.append(1000 * float(np.median(times)))
    rows.append(("AdamW step, 60 text-module tensors", "per-tensor loop", *step_ms))
    return rows


def print_rows(rows):
    print("| operation | plain PyTorch | plain ms | ours ms | speed-up |")
    print("|---|---|---:|---:|---:|")
    for name, plain, t_plain, t_ours in rows:
        print(f"| {name} | {plain} | {t_plain:.2f} | {t_ours:.2f} | {t_plain / t_ours:.2f}x |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    rows = kernel_rows(args.device, args.repeats)
    threads = f"{torch.get_num_threads()} threads" if args.device == "cpu" else args.device
    print(f"\n{threads}, forward + backward, median of {args.repeats} (1x1 convs: {max(3, args.repeats // 4)})\n")
    print_rows(rows)


if __name__ == "__main__":
    main()
