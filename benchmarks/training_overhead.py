"""Training-iteration time and peak memory of nnUNetTrainerTMCA relative to nnUNetTrainer.

All trainers are built on the same preprocessed dataset and plans, fed the same batches
(drawn once from nnU-Net's own data loader) and timed one step each in turn, in one process, so
that machine noise hits them alike; the ratio is the median over steps of (trainer step time /
the baseline's step time next to it), with the spread of those ratios (quartiles). Memory: on CUDA torch's peak allocation during a step;
on the CPU (no allocator statistics) the bytes autograd saves for backward plus parameters,
gradients and optimizer state, which is what a step's peak is made of.

    python benchmarks/training_overhead.py -d 991 -c 2d --batch_size 12 --iterations 40
    python benchmarks/training_overhead.py -d 991 --trainer nnUNetTrainerTMCA nnUNetTrainerTMCA_fullGrid
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
    if batch_size:  # else the plan's
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
    return sum(saved.values()) + 2 * params + tensor_bytes(trainer.optimizer.state_dict())


def tensor_bytes(obj) -> int:
    """Bytes of the tensors in nested dicts / lists (an optimizer's state_dict, whatever optimizers it wraps)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    return sum(tensor_bytes(v) for v in obj) if isinstance(obj, (list, tuple)) else 0


def time_one_step(trainer, batch, device) -> float:
    sync(device)
    start = time.perf_counter()
    trainer.train_step(batch)
    sync(device)
    return time.perf_counter() - start


def alternating_steps(trainers: dict, batches: list, iterations: int, device: str) -> tuple[dict, dict]:
    """Step times ({name: [s, ...]}, one step of each trainer in turn, the order alternating) and each
    trainer's step memory (``step_memory``, bytes) on the same batches."""
    names = list(trainers)
    times = {n: [] for n in names}
    for i in range(iterations):
        for n in (names if i % 2 == 0 else names[::-1]):
            times[n].append(time_one_step(trainers[n], batches[i % len(batches)], device))
    return times, {n: step_memory(t, batches[0], device) for n, t in trainers.items()}


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


if __name__ == "__main__":
    main()
