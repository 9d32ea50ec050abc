"""The small operations behind the LGTE block's cost, each next to its alternative, in training and in inference.

Times (ms, median of repeats): forward + backward ("train") and forward under ``torch.no_grad`` ("no grad"), at the
shapes of nnU-Net's 2D plans (224x224 and 512x512 patches: training batch 12, prediction one tile at a time) and a
3D tile. Rows:
- the 2^k block mean of the attention grid (``model/attention_grid.py``): ``F.avg_pool2d/3d`` against the
  strided-slice sum, which ``use_slice_block_mean`` picks for 2D CPU inference only;
- 1 / ||P|| over the channels of the alignment heads' pixel embeddings: ``vector_norm`` against a sum of squares;
- the attention block on its pooled grid against full resolution, and the fused AdamW step against the
  per-tensor loop (training only).
Outputs agree (checked). A speed-up below 1 says the plain op is the better choice there.

    python benchmarks/lgte_kernels.py
    python benchmarks/lgte_kernels.py --device cuda
"""
from __future__ import annotations

import argparse

import torch

from nnunetv2_tmca.experiments.kernel_timing import kernel_rows, print_rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    rows = kernel_rows(args.device, args.repeats)
    threads = f"{torch.get_num_threads()} threads" if args.device == "cpu" else args.device
    print(f"\n{threads}, median of {args.repeats}; 'ours': the strided-slice block mean, the sum of squares, "
          "the pooled grid, the fused AdamW\n")
    print_rows(rows)


if __name__ == "__main__":
    main()
