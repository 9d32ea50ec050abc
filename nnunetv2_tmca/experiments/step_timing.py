"""Training-step time and memory of trainers built as ``nnUNetv2_train`` builds them, fed the same batches.

:func:`make_trainer` builds and initialises a trainer on a preprocessed dataset (optionally another batch
size); :func:`alternating_steps` times one step of each trainer in turn on the same batches (the order
alternating, so that machine noise hits them alike) and measures each one's step memory
(:func:`step_memory`: on CUDA torch's peak allocation during a step; on the CPU, which has no allocator
statistics, the bytes autograd saves for backward plus parameters, gradients and optimizer state).
Used by ``benchmarks/training_overhead.py`` and ``benchmarks/gpu_check.py``.
"""
from __future__ import annotations

import os
import time

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
