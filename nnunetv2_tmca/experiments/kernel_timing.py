"""Timing of the small operations behind the LGTE block's cost, each next to its alternative (training and no grad).

Used by ``benchmarks/lgte_kernels.py`` (which describes the rows) and ``benchmarks/gpu_check.py``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from nnunetv2_tmca.experiments.step_timing import sync
from nnunetv2_tmca.model.attention_grid import block_mean_by_pooling, block_mean_by_slices
from nnunetv2_tmca.model.lgte import CrossModalAttention

BLOCK_MEAN_SHAPES = {  # name: (B, C, *S) of the map the attention grid pools by 2 per axis
    "2D 224 plan, training batch": (12, 64, 112, 112),
    "2D 224 plan, one tile": (1, 64, 112, 112),
    "2D 512 plan, one tile": (1, 64, 256, 256),
    "3D tile": (1, 32, 32, 64, 64),
}


def median_ms(fn, inputs, repeats: int, device: str, train: bool) -> float:
    times = []
    for i in range(repeats + 2):
        for t in inputs:
            t.grad = None
        sync(device)
        start = time.perf_counter()
        if train:
            out = fn()
            out.backward(torch.ones_like(out))
        else:
            with torch.no_grad():
                fn()
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def timed_row(name, plain_name, plain, ours, inputs, repeats, device):
    """(operation, plain op, train plain, train ours, no-grad plain, no-grad ours) in ms."""
    with torch.no_grad():
        assert torch.allclose(plain(), ours(), atol=1e-5, rtol=1e-4), name
    return (name, plain_name, *(median_ms(fn, inputs, repeats, device, train)
                                for train in (True, False) for fn in (plain, ours)))


def kernel_rows(device: str = "cpu", repeats: int = 20) -> list:
    torch.manual_seed(0)
    dev = torch.device(device)
    rows = []
    for name, shape in BLOCK_MEAN_SHAPES.items():
        x = torch.randn(*shape, device=dev, requires_grad=True)
        pool = (2,) * (len(shape) - 2)
        rows.append(timed_row(f"block mean by 2, {name} {tuple(shape)}", "F.avg_pool", lambda x=x, p=pool:
                              block_mean_by_pooling(x, p), lambda x=x, p=pool: block_mean_by_slices(x, p),
                              [x], repeats, device))
    for batch in (12, 1):
        p = torch.randn(batch, 32, 112 * 112, device=dev, requires_grad=True)
        rows.append(timed_row(f"1 / ||P|| over 32 channels, ({batch}, 32, 112x112)", "vector_norm",
                              lambda p=p: torch.linalg.vector_norm(p, dim=1, keepdim=True).clamp_min(1e-6).reciprocal(),
                              lambda p=p: (p * p).sum(1, keepdim=True).clamp_min(1e-12).rsqrt(), [p], repeats, device))
    x = torch.randn(12, 64, 32, 32, device=dev, requires_grad=True)
    att = CrossModalAttention(64, 128, 64, 4).to(dev)
    torch.nn.init.normal_(att.gate)
    tokens, mask = torch.randn(12, 24, 128, device=dev), torch.ones(12, 24, dtype=torch.bool, device=dev)
    rows.append(("attention block, 64 ch at 32x32, on a 16x16 grid", "full-resolution grid",
                 median_ms(lambda: att(x, tokens, mask)[0], [x], repeats, device, True),
                 median_ms(lambda: att(x, tokens, mask, (2, 2))[0], [x], repeats, device, True), None, None))
    rows.append(unpadded_keys_row(dev, repeats, device))
    rows.append(("AdamW step, 60 text-module tensors", "per-tensor loop", *adamw_ms(dev, repeats, device), None, None))
    return rows


# token counts of a batch of 12 real chest-CT reports (a median of ~360 tokens, padded to the longest)
REAL_REPORT_TOKENS = (205, 260, 298, 326, 349, 361, 377, 418, 466, 541, 640, 1100)


def unpadded_keys_row(dev, repeats: int, device: str) -> tuple:
    """The token cross-attention of one LGTE stage (16x16 grid, 64 ch) over real-length reports with the sentence
    bias: one padded call against each row over its own valid tokens."""
    att = CrossModalAttention(64, 128, 64, 4).to(dev)
    torch.nn.init.normal_(att.gate)
    x = torch.randn(12, 64, 16, 16, device=dev, requires_grad=True)
    width = max(REAL_REPORT_TOKENS)
    valid = torch.arange(width, device=dev)[None, :] < torch.tensor(REAL_REPORT_TOKENS, device=dev)[:, None]
    tokens = torch.randn(12, width, 128, device=dev)
    bias = torch.randn(12, width, device=dev).log_softmax(1).masked_fill(~valid, float("-inf"))

    def call(padded):
        att.padded_keys = padded
        return att(x, tokens, bias)[0]
    return timed_row(f"token cross-attention, 12 real-length reports ({sum(REAL_REPORT_TOKENS)} tokens, padded "
                     f"to {width}), 16x16 grid", "one padded call", lambda: call(True), lambda: call(False), [x],
                     repeats, device)


def adamw_ms(dev, repeats: int, device: str) -> list:
    """Step time of the per-tensor loop and of the fused AdamW on 60 tensors shaped like the text modules'."""
    params = [torch.nn.Parameter(torch.randn(*s, device=dev)) for s in [(128, 384), (128,), (128, 128)] * 20]
    for q in params:
        q.grad = torch.randn_like(q)
    step_ms = []
    for kw in ({}, {"fused": True}):
        opt = torch.optim.AdamW(params, 1e-3, **kw)
        times = []
        for i in range(repeats + 2):
            sync(device)
            start = time.perf_counter()
            opt.step()
            sync(device)
            if i >= 2:
                times.append(time.perf_counter() - start)
        step_ms.append(1000 * float(np.median(times)))
    return step_ms


def print_rows(rows):
    def cell(a, b):
        return ("-", "-", "-") if a is None else (f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}x")

    print("| operation | plain PyTorch | train: plain ms | ours ms | speed-up | "
          "no grad: plain ms | ours ms | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, plain, train_plain, train_ours, eval_plain, eval_ours in rows:
        print(f"| {name} | {plain} | " + " | ".join(cell(train_plain, train_ours) + cell(eval_plain, eval_ours))
              + " |")
