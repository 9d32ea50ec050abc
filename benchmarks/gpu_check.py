"""TMCA on the device it will train on, in one command: compile + AMP tests, training-step time and peak
memory of nnUNetTrainerTMCA over nnUNetTrainer, prediction time; one table.

    python benchmarks/gpu_check.py                        # CUDA: under 8 minutes on one H200
    python benchmarks/gpu_check.py --device cpu --quick   # the same code path on the CPU (minutes)

1. ``tests/test_compile_amp.py`` on the device (``-k cuda`` / ``-k cpu``).
2. Two synthetic report-guided sets made on the fly (no download): 2D 224x224, one channel, two classes
   like QaTa-COV19, and 3D 128^3 (``--quick``: 32x32 and 24^3, small batches). nnU-Net's own
   ExperimentPlanner plans them; its cap of a batch at 5 % of the dataset's voxels is lifted, so the
   batch is the memory-based one nnU-Net plans for the full dataset (the synthetic sets have 8 cases).
3. Per plan, nnUNetTrainer and nnUNetTrainerTMCA built as ``nnUNetv2_train`` builds them: on CUDA with
   nnU-Net's torch.compile (inductor, unless ``nnUNet_compile`` says otherwise) and fp16 autocast +
   GradScaler; on the CPU, where nnU-Net does neither, compiled with backend ``aot_eager`` and given a CPU
   GradScaler, so that the same branches run. The first step (the compilation) is timed apart and
   dynamo's graph breaks are counted; then one step of each in turn on the same batches
   (``experiments.step_timing.alternating_steps``), and each step's peak memory (CUDA: torch's peak allocation
   above what the step starts with; CPU: saved tensors + parameters, gradients, optimizer state).
4. Prediction: nnU-Net's sliding window with its test-time mirroring on a full-size image, eager (as
   ``nnUNetv2_predict`` without ``nnUNet_compile``), TMCA with a report bound.
On CUDA a second table: ``experiments.kernel_timing.kernel_rows`` on the device (training and no-grad columns; the
network runs the plain op on CUDA, so a speed-up there would be the case for a CUDA kernel).
Everything is written below ``--out`` (a temporary folder by default); nnU-Net's folder variables are
set to it, whatever the shell says.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from nnunetv2_tmca.experiments.kernel_timing import kernel_rows, print_rows
from nnunetv2_tmca.experiments.step_timing import alternating_steps, draw_batches, make_trainer, sync

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

TRAINERS = ("nnUNetTrainer", "nnUNetTrainerTMCA")
# name: dataset id, dimensions, image edge, configuration, (quick edge, quick batch)
PLANS = {"QaTa-like 2D": (601, 2, 224, "2d", (32, 4)), "3D": (602, 3, 128, "3d_fullres", (24, 2))}


def log(msg: str, start=time.perf_counter()):
    print(f"[{time.perf_counter() - start:6.0f} s] {msg}", file=sys.stderr, flush=True)


def use_own_folders(out: str):
    for var, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "pre"), ("nnUNet_results", "res")):
        os.environ[var] = os.path.join(out, sub)  # nnU-Net 2.8 reads them when it uses them
    os.environ["nnUNet_n_proc_DA"] = "0"  # batches are drawn once, in this process


def run_tests(device: str) -> str:
    """The last line of ``pytest tests/test_compile_amp.py -k <device>``."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", device,
                        os.path.join(REPO, "tests", "test_compile_amp.py")], capture_output=True, text=True,
                       cwd=REPO)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    if p.returncode != 0:
        print(p.stdout[-6000:], p.stderr[-3000:], sep="\n", file=sys.stderr)
    return lines[-1].strip("= ") if lines else f"pytest exited {p.returncode}"


def plan_synthetic(dataset_id: int, dim: int, size: int, configuration: str, processes: int, logfile):
    """Make, fingerprint, plan (batch cap lifted) and preprocess one synthetic set."""
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiment_dataset,
        preprocess,
    )

    from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset

    class FullDatasetPlanner(ExperimentPlanner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.max_dataset_covered = 1e6

    make_synthetic_dataset(os.environ["nnUNet_raw"], dataset_id, num_train=8, num_test=0, size=size, dim=dim, seed=0)
    threads = torch.get_num_threads()
    os.environ["nnUNet_n_proc_DA"] = str(processes)  # nnU-Net 2.8.1's planner sets torch's threads to it (0 crashes)
    with contextlib.redirect_stdout(logfile):
        extract_fingerprints([dataset_id], num_processes=processes, verbose=False, show_progress_bar=False)
        plan_experiment_dataset(dataset_id, FullDatasetPlanner)
        preprocess([dataset_id], configurations=(configuration,), num_processes=(processes,), show_progress_bar=False)
    os.environ["nnUNet_n_proc_DA"] = "0"
    torch.set_num_threads(threads)


def build_trainers(dataset_id: int, configuration: str, device: str, batch_size: int | None, logfile) -> dict:
    with contextlib.redirect_stdout(logfile):
        trainers = {n: make_trainer(n, dataset_id, configuration, device, batch_size) for n in TRAINERS}
    if device == "cpu":  # nnU-Net compiles and scales gradients on CUDA only: the same branches here
        for t in trainers.values():
            t.network = torch.compile(t.network, backend="aot_eager")
            t.grad_scaler = torch.amp.GradScaler("cpu")
    return trainers


def parameter_probe(trainer) -> list:
    """One entry of every parameter, per part: [planned U-Net, new text modules (TMCA only)]."""
    network = getattr(trainer.network, "_orig_mod", trainer.network)
    text = {id(p) for p in network.text_parameters()} if hasattr(network, "text_parameters") else set()
    parts = [[p for p in network.parameters() if id(p) not in text], [p for p in network.parameters() if id(p) in text]]
    return [torch.stack([p.detach().flatten()[0] for p in part]).cpu() if part else None for part in parts]


def warm_up(trainer, batch, device: str, steps: int) -> dict:
    """First step (compilation included) timed apart, then ``steps - 1`` more; graph breaks, AMP state."""
    counters = torch._dynamo.utils.counters
    counters.clear()
    sync(device)
    start = time.perf_counter()
    outputs = [trainer.train_step(batch)]
    sync(device)
    first = time.perf_counter() - start
    outputs += [trainer.train_step(batch) for _ in range(steps - 1)]
    finite = all(math.isfinite(float(o["loss"])) and math.isfinite(float(o.get("align_loss", 0.0))) for o in outputs)
    compiled = isinstance(trainer.network, torch._dynamo.eval_frame.OptimizedModule)
    scaler = trainer.grad_scaler
    return {"first_step_s": first, "compiled": compiled, "graph_breaks": sum(counters["graph_break"].values()),
            "amp": ("fp16 autocast + " if device.startswith("cuda") else "fp32 + ") +
                   (f"GradScaler (scale {scaler.get_scale():.0f})" if scaler is not None else "no scaler"),
            "finite": finite}


def amp_ok(info: dict, before: list, after: list) -> bool:
    """Finite losses, and the optimizer stepped every part (a scaler that skips every step would not)."""
    return info["finite"] and all(b is None or bool((a != b).any()) for b, a in zip(before, after))


def prediction_seconds(trainer, image_shape, device: str, cases: int, key) -> float:
    """Seconds per case of nnU-Net's sliding window with mirroring (eager), TMCA with ``key``'s report bound."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    trainer.set_deep_supervision_enabled(False)
    network = getattr(trainer.network, "_orig_mod", trainer.network)
    predictor = nnUNetPredictor(use_mirroring=True, perform_everything_on_device=device.startswith("cuda"),
                                device=torch.device(device), verbose=False, allow_tqdm=False)
    predictor.manual_initialization(network, trainer.plans_manager, trainer.configuration_manager, None,
                                    trainer.dataset_json, type(trainer).__name__,
                                    trainer.inference_allowed_mirroring_axes)
    lookup = getattr(trainer, "text_lookup", None)
    image = torch.randn(1, *image_shape)
    with network.bind_text(lookup.single(key)) if lookup is not None else contextlib.nullcontext():
        predictor.predict_sliding_window_return_logits(image)  # warm-up
        sync(device)
        start = time.perf_counter()
        for _ in range(cases):
            predictor.predict_sliding_window_return_logits(image)
        sync(device)
    trainer.set_deep_supervision_enabled(True)
    return (time.perf_counter() - start) / cases


def check_plan(name: str, spec, args, logfile) -> list:
    dataset_id, dim, size, configuration, (quick_size, quick_batch) = spec
    size, batch_size = (quick_size, quick_batch) if args.quick else (size, None)
    log(f"{name}: synthetic set, nnU-Net plans and preprocessing")
    plan_synthetic(dataset_id, dim, size, configuration, args.processes, logfile)
    trainers = build_trainers(dataset_id, configuration, args.device, batch_size, logfile)
    base = trainers[TRAINERS[0]]
    cm = base.configuration_manager
    batches = draw_batches(base, args.batches)
    info, probes = {}, {n: parameter_probe(t) for n, t in trainers.items()}
    for n, t in trainers.items():
        log(f"{name}: {n}: first steps (compilation)")
        info[n] = warm_up(t, batches[0], args.device, args.warmup)
    log(f"{name}: {args.steps} alternating steps each")
    times, memory = alternating_steps(trainers, batches, args.steps, args.device)
    for n, t in trainers.items():
        info[n]["amp_ok"] = amp_ok(info[n], probes[n], parameter_probe(t))
    image_shape = (1, size, size) if dim == 2 else (size,) * 3
    key = batches[0]["keys"][0]
    for n, t in trainers.items():
        log(f"{name}: {n}: prediction")
        info[n]["predict_s"] = prediction_seconds(t, image_shape, args.device, args.cases, key)
    rows = []
    for n in TRAINERS:
        i, b = info[n], info[TRAINERS[0]]
        step = np.median(times[n])
        rows.append([f"{name} {'x'.join(map(str, cm.patch_size))}, batch {cm.batch_size}", n,
                     f"{'yes' if i['compiled'] else 'no'} ({i['first_step_s']:.0f} s), {i['graph_breaks']}",
                     f"{'ok' if i['amp_ok'] else 'FAILED'}: {i['amp']}", f"{step:.3f}",
                     f"{np.median(np.asarray(times[n]) / np.asarray(times[TRAINERS[0]])):.3f}",
                     f"{memory[n] / 2 ** 20:.0f}", f"{memory[n] / max(memory[TRAINERS[0]], 1):.3f}",
                     f"{i['predict_s']:.3f}", f"{i['predict_s'] / b['predict_s']:.3f}"])
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="small plans and few steps (the CPU check)")
    p.add_argument("--out", default=None, help="working folder (default: a new temporary one)")
    p.add_argument("--skip_tests", action="store_true")
    p.add_argument("--plans", nargs="+", default=list(PLANS), choices=list(PLANS))
    args = p.parse_args()
    args.steps, args.batches, args.warmup, args.cases = (2, 1, 1, 1) if args.quick else (10, 3, 3, 10)
    args.processes = min(8, os.cpu_count() or 1) if args.device.startswith("cuda") else 1
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: run with --device cpu --quick")
    out = args.out or tempfile.mkdtemp(prefix="tmca_gpu_check_")
    os.makedirs(out, exist_ok=True)
    use_own_folders(out)
    torch.manual_seed(0)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} threads"
    tests = "skipped" if args.skip_tests else None
    if tests is None:
        log("tests/test_compile_amp.py")
        tests = run_tests("cuda" if args.device.startswith("cuda") else "cpu")
    rows = []
    with open(os.path.join(out, "gpu_check.log"), "w") as logfile:
        for name in args.plans:
            rows += check_plan(name, PLANS[name], args, logfile)
    print(f"\n{device_name}, torch {torch.__version__}; tests/test_compile_amp.py: {tests}; "
          f"median of {args.steps} alternating steps, prediction of {args.cases} images (mirroring)\n")
    print("| plan (patch, batch) | trainer | compiled (first step), graph breaks | AMP | s / step | **step ratio** | "
          "peak MB | **memory ratio** | predict s / image | predict ratio |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.device.startswith("cuda"):
        log("kernel timings")
        print(f"\nlgte_kernels.py on {device_name}, median of 10\n")
        print_rows(kernel_rows(args.device, 10))
    log(f"done; files in {out}")


if __name__ == "__main__":
    main()
