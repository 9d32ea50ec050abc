"""Cross-attention of pixels over report tokens: explicit softmax vs PyTorch's fused kernel.

The LGTE block (model/lgte.py) computes softmax(Q K^T / sqrt(d_h)) V with the pixels as queries.
Written out, autograd keeps the (B, heads, pixels, tokens) probabilities for the backward pass;
``F.scaled_dot_product_attention`` on contiguous (B, heads, pixels, d_h) queries picks the fused
kernel, which keeps only the inputs, the output and a log-sum-exp per query. Prints, per map size,
the bytes saved for backward and the forward+backward time of both, and their largest difference.

    python benchmarks/attention_kernel.py --batch 12 --tokens 64 --threads 1
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F


def explicit(q, k, v, mask, head_dim):
    scores = torch.matmul(q, k.transpose(2, 3)) * head_dim ** -0.5  # (B, h, N, L)
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.matmul(scores.softmax(dim=-1), v)


def fused(q, k, v, mask, head_dim):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])


def saved_megabytes(fn, *args):
    seen, total = set(), [0]

    def pack(t):
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)
    return out, total[0] / 2 ** 20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head_dim", type=int, default=16)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--sizes", type=int, nargs="+", default=[28, 56, 112], help="feature map side lengths")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, h, d, n_tokens = args.batch, args.heads, args.head_dim, args.tokens
    print(f"batch {b}, {h} heads x {d}, {n_tokens} tokens (last quarter padding), {args.threads} thread(s), "
          f"median of {args.repeats} forward+backward passes\n")
    print("| map | explicit: saved MB | fused: saved MB | explicit s | fused s | max abs difference |")
    print("|---|---:|---:|---:|---:|---:|")
    for side in args.sizes:
        q = torch.randn(b, h, side * side, d, requires_grad=True)
        k = torch.randn(b, h, n_tokens, d, requires_grad=True)
        v = torch.randn(b, h, n_tokens, d, requires_grad=True)
        mask = torch.ones(b, n_tokens, dtype=torch.bool)
        mask[:, n_tokens - n_tokens // 4:] = False
        row, outs = [], []
        for fn in (explicit, fused):
            out, mb = saved_megabytes(fn, q, k, v, mask, d)
            grad = torch.ones_like(out)
            outs.append((out,) + torch.autograd.grad(out, (q, k, v), grad))
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                torch.autograd.grad(fn(q, k, v, mask, d), (q, k, v), grad)
                times.append(time.perf_counter() - t0)
            row.append((mb, sorted(times)[len(times) // 2]))
        diff = max((a - c).abs().max().item() for a, c in zip(*outs))
        print(f"| {side}x{side} | {row[0][0]:.1f} | {row[1][0]:.1f} | {row[0][1]:.3f} | {row[1][1]:.3f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
