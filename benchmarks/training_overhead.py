"""Training-iteration time and peak memory of nnUNetTrainerTMCA relative to nnUNetTrainer.

Both trainers are built on the same preprocessed dataset and plans, fed the same batches
(drawn once from nnU-Net's own data loader), and timed in alternating blocks in one process,
so that machine noise hits both alike. Memory: on CUDA torch's peak allocation during a step;
on the CPU (no allocator statistics) the bytes autograd saves for backward plus parameters,
gradients and optimizer state, which is what a step's peak is made of.

    python benchmarks/training_overhead.py -d 990 -c 2d --batch_size 12 --iterations 20
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def make_trainer(trainer_name, dataset, configuration, device, batch_size):
    from batchgenerators.utilities.file_and_folder_operations import join, load_json
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    name = maybe_convert_to_dataset_name(dataset)
    plans = load_json(join(nnUNet_preprocessed, name, "nnUNetPlans.json"))
    plans["configurations"][configuration]["batch_size"] = batch_size
    plans["continue_training"] = False
    dataset_json = load_json(join(nnUNet_preprocessed, name, "dataset.json"))
    cls = recursive_find_trainer_class_by_name(trainer_name)
    os.environ.setdefault("nnUNet_results", os.path.join(nnUNet_preprocessed, "..", "benchmark_results"))
    trainer = cls(plans, configuration, 0, dataset_json, device=torch.device(device))
    trainer.initialize()
    trainer.dataloader_train, trainer.dataloader_val = trainer.get_dataloaders()
    trainer.on_train_epoch_start()
    return trainer


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(trainer, batches, device):
    sync(device)
    start = time.perf_counter()
    for b in batches:
        trainer.train_step(b)
    sync(device)
    return (time.perf_counter() - start) / len(batches)


def draw_batches(trainer, n):
    return [next(trainer.dataloader_train) for _ in range(n)]


def step_memory(trainer, batch, device) -> int:
    """Bytes of one training step's memory: on CUDA torch's peak allocation during the step; on the CPU
    the tensors autograd saves for backward (activations) plus parameters, gradients and optimizer state."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        trainer.train_step(batch)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    saved = {}

    def pack(t):
        if isinstance(t, torch.Tensor):
            key = (t.untyped_storage().data_ptr(), t.dtype)
            saved[key] = max(saved.get(key, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        trainer.train_step(batch)
    params = sum(p.numel() * p.element_size() for p in trainer.network.parameters())
    state = sum(v.numel() * v.element_size() for st in trainer.optimizer.state.values() for v in st.values()
                if isinstance(v, torch.Tensor))
    return sum(saved.values()) + 2 * params + state


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", dest="dataset", required=True)
    p.add_argument("-c", dest="configuration", default="2d")
    p.add_argument("--baseline", default="nnUNetTrainer")
    p.add_argument("--trainer", default="nnUNetTrainerTMCA")
    p.add_argument("--batch_size", type=int, default=12)
    p.add_argument("--iterations", type=int, default=20, help="timed iterations per block")
    p.add_argument("--rounds", type=int, default=3, help="alternating blocks per trainer")
    p.add_argument("-device", dest="device", default="cpu")
    args = p.parse_args()

    torch.manual_seed(0)
    base = make_trainer(args.baseline, args.dataset, args.configuration, args.device, args.batch_size)
    tmca = make_trainer(args.trainer, args.dataset, args.configuration, args.device, args.batch_size)
    batches = draw_batches(base, args.iterations)
    for t in (base, tmca):  # warm-up
        t.train_step(batches[0])
    times = {args.baseline: [], args.trainer: []}
    for _ in range(args.rounds):
        for name, t in ((args.baseline, base), (args.trainer, tmca)):
            times[name].append(time_steps(t, batches, args.device))
    t_base, t_tmca = np.median(times[args.baseline]), np.median(times[args.trainer])

    m_base, m_tmca = step_memory(base, batches[0], args.device), step_memory(tmca, batches[0], args.device)

    n_params = {n: sum(p.numel() for p in t.network.parameters()) for n, t in ((args.baseline, base),
                                                                                (args.trainer, tmca))}
    patch = base.configuration_manager.patch_size
    print(f"\nDataset {args.dataset}, configuration {args.configuration}, patch {patch}, batch {args.batch_size}, "
          f"device {args.device}, {args.rounds} alternating rounds x {args.iterations} iterations\n")
    mem_label = "peak allocated in a step (MB)" if args.device.startswith("cuda") else \
        "saved activations + params, grads, optimizer state (MB)"
    print(f"| trainer | s / iteration (median of rounds) | {mem_label} | parameters |")
    print("|---|---|---|---|")
    for name, t, m in ((args.baseline, t_base, m_base), (args.trainer, t_tmca, m_tmca)):
        print(f"| {name} | {t:.3f} | {m / 2**20:.0f} | {n_params[name] / 1e6:.2f} M |")
    print(f"| **TMCA / nnU-Net** | **{t_tmca / t_base:.3f}** | **{m_tmca / max(m_base, 1):.3f}** | "
          f"{n_params[args.trainer] / n_params[args.baseline]:.3f} |")


if __name__ == "__main__":
    main()
