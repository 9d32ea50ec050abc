"""Training-iteration time and peak memory of nnUNetTrainerTMCA relative to nnUNetTrainer.

All trainers are built on the same preprocessed dataset and plans, fed the same batches
(drawn once from nnU-Net's own data loader) and timed one step each in turn, in one process, so
that machine noise hits them alike; the ratio is the median over steps of (trainer step time /
the baseline's step time next to it), with the spread of those ratios (quartiles). Memory: on CUDA torch's peak
allocation during a step; on the CPU (no allocator statistics) the bytes autograd saves for backward plus parameters,
gradients and optimizer state, which is what a step's peak is made of.

    python benchmarks/training_overhead.py -d 991 -c 2d --batch_size 12 --iterations 40
    python benchmarks/training_overhead.py -d 991 --trainer nnUNetTrainerTMCA nnUNetTrainerTMCA_fullGrid
    python benchmarks/training_overhead.py -d 994 --iterations 6 --profile 3   # + where a TMCA step's time goes

``--profile N``: afterwards, torch.profiler over N steps of each trainer; the operators by self time per step,
grouped by input shapes (an attention call shows its batch, heads, queries, keys and head dimension).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from nnunetv2_tmca.experiments.step_timing import alternating_steps, draw_batches, make_trainer


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", dest="dataset", required=True)
    p.add_argument("-c", dest="configuration", default="2d")
    p.add_argument("--baseline", default="nnUNetTrainer")
    p.add_argument("--trainer", nargs="+", default=["nnUNetTrainerTMCA"])
    p.add_argument("--batch_size", type=int, default=12)
    p.add_argument("--iterations", type=int, default=40, help="timed steps per trainer (distinct batches cycle)")
    p.add_argument("--batches", type=int, default=10, help="distinct batches drawn from the data loader")
    p.add_argument("-device", dest="device", default="cpu")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="profile N steps of each trainer")
    p.add_argument("--profile_rows", type=int, default=12)
    args = p.parse_args()

    torch.manual_seed(0)
    names = [args.baseline] + list(args.trainer)
    trainers = {n: make_trainer(n, args.dataset, args.configuration, args.device, args.batch_size) for n in names}
    batches = draw_batches(trainers[args.baseline], args.batches)
    for t in trainers.values():  # warm-up
        t.train_step(batches[0])
    times, memory = alternating_steps(trainers, batches, args.iterations, args.device)
    n_params = {n: sum(p.numel() for p in t.network.parameters()) for n, t in trainers.items()}

    patch = trainers[args.baseline].configuration_manager.patch_size
    print(f"\nDataset {args.dataset}, configuration {args.configuration}, patch {patch}, batch {args.batch_size}, "
          f"device {args.device}, {args.iterations} steps per trainer, one step each in turn\n")
    mem_label = "peak allocated in a step (MB)" if args.device.startswith("cuda") else \
        "saved activations + params, grads, optimizer state (MB)"
    print(f"| trainer | s / step (median) | time ratio (median, quartiles) | {mem_label} | memory ratio | "
          f"parameters |")
    print("|---|---|---|---|---|---|")
    base_t = np.asarray(times[args.baseline])
    for n in names:
        ratios = np.asarray(times[n]) / base_t
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        bold = "**" if n != args.baseline else ""
        print(f"| {n} | {np.median(times[n]):.3f} | {bold}{med:.3f}{bold} ({q1:.3f}-{q3:.3f}) | "
              f"{memory[n] / 2 ** 20:.0f} | {bold}{memory[n] / max(memory[args.baseline], 1):.3f}{bold} | "
              f"{n_params[n] / 1e6:.2f} M |")
    for n in names if args.profile else []:
        print_profile(n, trainers[n], batches, args.profile, args.profile_rows)


def print_profile(name: str, trainer, batches, steps: int, rows: int):
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for i in range(steps):
            trainer.train_step(batches[i % len(batches)])
    events = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) / steps / 1000
    print(f"\n{name}: {total:.0f} ms self CPU time per step ({steps} steps); top {rows} operators by input shapes\n")
    print("| operator | input shapes | calls / step | self CPU ms / step | share |")
    print("|---|---|---:|---:|---:|")
    for e in events[:rows]:
        shapes = ", ".join(str(tuple(s)) for s in e.input_shapes if s)[:90]
        ms = e.self_cpu_time_total / steps / 1000
        print(f"| {e.key[:48]} | {shapes} | {e.count / steps:g} | {ms:.1f} | {ms / total:.1%} |")


if __name__ == "__main__":
    main()
