"""Train several trainers at one budget and compare them with true, shuffled and no reports.

The shared engine of ``nnUNetv2_tmca_demo`` and the ``benchmarks/`` scripts. Every step runs
nnU-Net's stock command lines (``nnUNetv2_plan_and_preprocess``, ``nnUNetv2_train``,
``nnUNetv2_predict``) or ours (``nnUNetv2_predict_tmca``, ``nnUNetv2_tmca_visualize``) in
subprocesses whose nnU-Net paths point into one working folder, and each step is skipped when
its result exists (delete a model's ``checkpoint_final.pth`` to train it again). Reports are
never printed: logs name case ids and counts only.
"""
from __future__ import annotations

import os
import re
import subprocess
import time


def step(msg: str):
    print(f"\n[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def nnunet_env(out: str) -> dict:
    """Environment with nnU-Net's three folders inside ``out`` and the CPU-friendly process settings."""
    env = dict(os.environ, nnUNet_raw=os.path.join(out, "nnUNet_raw"),
               nnUNet_preprocessed=os.path.join(out, "nnUNet_preprocessed"),
               nnUNet_results=os.path.join(out, "nnUNet_results"), MPLBACKEND="Agg")
    env.setdefault("nnUNet_def_n_proc", "1")
    env.pop("nnUNet_n_proc_DA", None)  # planning crashes with 0 (design brief); training sets it below
    return env


def run_logged(cmd, env, log_file, on_line=None):
    """Run ``cmd`` with its output appended to ``log_file``; ``on_line(line)`` sees each output line."""
    with open(log_file, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        if on_line is None:
            returncode = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        else:
            with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  bufsize=1) as p:
                for line in p.stdout:
                    log.write(line)
                    on_line(line)
            returncode = p.returncode
    if returncode != 0:
        raise SystemExit(f"'{' '.join(cmd)}' failed; see {log_file}")


class EpochProgress:
    """Turns nnU-Net's training output into one console line per epoch (no report text is ever in it)."""

    def __init__(self, label: str = ""):
        self.epoch, self.dice, self.prefix = None, None, f"{label}: " if label else ""

    def __call__(self, line: str):
        text = line.split(": ", 1)[-1].strip()
        if text.startswith("Epoch ") and text[6:].isdigit():
            self.epoch = int(text[6:])
        elif text.startswith("Pseudo dice"):  # "Pseudo dice [np.float32(0.6359)]", one value per class
            self.dice = " ".join(f"{float(v):.3f}" for v in re.findall(r"\d+\.\d+", text))
        elif text.startswith("Epoch time:") and self.epoch is not None:
            print(f"      {self.prefix}epoch {self.epoch}: pseudo Dice {self.dice}, "
                  f"{text[len('Epoch time:'):].strip()}", flush=True)
        elif text.startswith("Mean Validation Dice"):
            print(f"      {self.prefix}fold-0 validation Dice {float(text.split(':')[1]):.3f}", flush=True)


def plan(env, dataset_folder: str, dataset_id: int, config: str, log: str, verify: bool = False):
    if os.path.isfile(os.path.join(env["nnUNet_preprocessed"], os.path.basename(dataset_folder), "nnUNetPlans.json")) \
            and os.path.isdir(os.path.join(env["nnUNet_preprocessed"], os.path.basename(dataset_folder),
                                           f"nnUNetPlans_{config}")):
        print("    already planned and preprocessed")
        return
    run_logged(["nnUNetv2_plan_and_preprocess", "-d", str(dataset_id), "-c", config, "-np", "1", "-npfp", "1"]
               + (["--verify_dataset_integrity"] if verify else []), env, log)


def train(env, dataset_folder: str, dataset_id: int, config: str, trainer: str, device: str, log: str):
    train_many(env, dataset_folder, dataset_id, config, [trainer], device, log)


def final_checkpoint(env, dataset_name: str, trainer: str, config: str) -> str:
    """nnU-Net's fold-0 final checkpoint of ``trainer`` (default plans) on ``dataset_name``."""
    return os.path.join(env["nnUNet_results"], dataset_name, f"{trainer}__nnUNetPlans__{config}", "fold_0",
                        "checkpoint_final.pth")


def train_many(env, dataset_folder: str, dataset_id: int, config: str, trainers, device: str, log: str,
               side_by_side: bool = False):
    """``nnUNetv2_train`` fold 0 for each trainer not trained yet; ``side_by_side``: at once on pinned cores."""
    jobs = []
    for trainer in trainers:
        final = final_checkpoint(env, os.path.basename(dataset_folder), trainer, config)
        if os.path.isfile(final):
            print(f"    {trainer}: already trained ({final}); delete it to train again")
            continue
        train_env = dict(env, nnUNet_n_proc_DA=env.get("nnUNet_tmca_n_proc_DA", "0" if device == "cpu" else "4"))
        jobs.append((trainer, ["nnUNetv2_train", str(dataset_id), config, "0", "-tr", trainer, "-device", device],
                     train_env, EpochProgress(trainer if side_by_side and len(trainers) > 1 else "")))
    run_jobs(jobs, log, cores_for_side_by_side(device) if side_by_side else [])


def cores_for_side_by_side(device: str) -> list:
    """CPU cores to pin parallel jobs to (at least 2), or [] to run them one after the other.

    Small nnU-Net jobs spend much of their time single-threaded (start-up, trainer lookup, data
    augmentation with nnUNet_n_proc_DA=0, the export pool of the final validation), so two jobs at once,
    each pinned to its own core, finish sooner than one after the other with two threads each
    (measured on 2 cores: two 3-epoch trainings at 32x32 in 83 s side by side vs 117 s in turn).
    nnUNet_tmca_side_by_side=0 turns it off.
    """
    if device != "cpu" or os.environ.get("nnUNet_tmca_side_by_side", "1") == "0" or \
            not hasattr(os, "sched_getaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    return cores if len(cores) >= 2 else []


def run_jobs(jobs, log_file: str, cores=()):
    """Run ``(label, cmd, env, on_line)`` jobs: one after the other, or ``len(cores)`` at a time, each pinned to
    one core (torch still starts nnU-Net's threads; OMP_WAIT_POLICY=PASSIVE keeps them from spinning). Each
    job's output is appended to ``log_file`` as a block once it ends."""
    import tempfile
    import threading

    if len(cores) < 2:
        for label, cmd, env, on_line in jobs:
            t0 = time.time()
            run_logged(cmd, env, log_file, on_line)
            print(f"    {label}: {time.time() - t0:.0f} s", flush=True)
        return
    for start in range(0, len(jobs), len(cores)):
        wave, running = jobs[start:start + len(cores)], []
        t0 = time.time()
        for (label, cmd, env, on_line), core in zip(wave, cores):
            buffer = tempfile.TemporaryFile("w+")
            p = subprocess.Popen(cmd, env=dict(env, OMP_WAIT_POLICY="PASSIVE"), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, bufsize=1,
                                 preexec_fn=lambda c=core: os.sched_setaffinity(0, {c}))
            pump = threading.Thread(target=_pump, args=(p, buffer, on_line), daemon=True)
            pump.start()
            running.append((label, cmd, p, pump, buffer))
        failed = []
        for label, cmd, p, pump, buffer in running:
            p.wait()
            pump.join()
            print(f"    {label}: {time.time() - t0:.0f} s", flush=True)
            buffer.seek(0)
            with open(log_file, "a") as log:
                log.write(f"\n$ {' '.join(cmd)}\n")
                log.write(buffer.read())
            buffer.close()
            if p.returncode != 0:
                failed.append(cmd)
        if failed:
            raise SystemExit(f"'{' '.join(failed[0])}' failed; see {log_file}")


def _pump(process, buffer, on_line):
    for line in process.stdout:
        buffer.write(line)
        if on_line is not None:
            on_line(line)


def prediction_runs(trainers, baseline, reports: str, shuffled_reports: str, pred_root: str,
                    controls: bool = True) -> dict:
    """name -> command (without the shared arguments) for every prediction of the comparison."""
    runs = {}
    for trainer in trainers:
        runs[f"{trainer}, true reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--reports", reports, "-o",
                                            os.path.join(pred_root, trainer, "true")]
        if controls:
            runs[f"{trainer}, shuffled reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--reports",
                                                    shuffled_reports, "-o", os.path.join(pred_root, trainer,
                                                                                         "shuffled")]
            runs[f"{trainer}, no report"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--no_text", "-o",
                                             os.path.join(pred_root, trainer, "no_text")]
    if baseline:
        runs[f"{baseline} (image only)"] = ["nnUNetv2_predict", "-tr", baseline, "-o",
                                            os.path.join(pred_root, baseline)]
    return runs


def _predictions_up_to_date(folder: str, ending: str, num_cases: int, env, dataset_id: int, trainer: str,
                            config: str) -> bool:
    """All cases predicted in ``folder``, and after the model's fold-0 final checkpoint was written
    (a model trained again is predicted again)."""
    if not os.path.isdir(folder):
        return False
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(ending)]
    if len(files) != num_cases:
        return False
    results = env["nnUNet_results"]
    prefix = f"Dataset{int(dataset_id):03d}_"
    datasets = [d for d in os.listdir(results) if d.startswith(prefix)] if os.path.isdir(results) else []
    checkpoints = [final_checkpoint(env, d, trainer, config) for d in datasets]
    newest_model = max((os.path.getmtime(c) for c in checkpoints if os.path.isfile(c)), default=0.0)
    return min(os.path.getmtime(f) for f in files) > newest_model


def predict_and_evaluate(env, dataset_id: int, config: str, trainers, baseline, images: str, labels: str,
                         reports_file: str, out: str, device: str, log: str, controls: bool = True,
                         side_by_side: bool = False) -> dict:
    """Predict ``images`` with every run (true/shuffled/no reports; image-only baseline), evaluate against
    ``labels``; returns name -> summary (also table.md and dice.png in ``out``)."""
    from nnunetv2_tmca.evaluation.controls import shuffle_reports
    from nnunetv2_tmca.evaluation.evaluate import evaluate_folders, infer_file_ending
    from nnunetv2_tmca.reports import atomic_write_json, load_reports

    ending = infer_file_ending(labels)
    case_ids = sorted(f[:-len(ending)] for f in os.listdir(labels) if f.endswith(ending))
    reports = load_reports(reports_file)
    shuffled = os.path.join(out, "reports_shuffled.json")
    atomic_write_json(shuffle_reports({c: reports[c] for c in case_ids}, seed=0), shuffled)
    common = ["-i", images, "-d", str(dataset_id), "-c", config, "-f", "0", "-device", device, "-npp", "0", "-nps",
              "0", "--disable_progress_bar"]
    runs = prediction_runs(trainers, baseline, reports_file, shuffled, os.path.join(out, "predictions"), controls)
    step(f"predicting {len(case_ids)} cases: {len(runs)} runs (true, shuffled, no reports; image-only baseline)")
    jobs = []
    for name, cmd in runs.items():
        target = cmd[cmd.index("-o") + 1]
        if _predictions_up_to_date(target, ending, len(case_ids), env, dataset_id, cmd[cmd.index("-tr") + 1],
                                   config):
            print(f"    {name}: already predicted")
            continue
        jobs.append((name, cmd + common, env, None))
    run_jobs(jobs, log, cores_for_side_by_side(device) if side_by_side else [])
    step("evaluating")
    return {name: evaluate_folders(labels, cmd[cmd.index("-o") + 1]) for name, cmd in runs.items()}


def plot_dice(summaries: dict, path: str, title: str = ""):
    """Horizontal bars of per-image and global Dice per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    per_image = [100 * (summaries[n]["per_image_mean"]["Dice"] or 0) for n in names]
    pooled = [100 * (summaries[n]["global"]["Dice"] or 0) for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], per_image, height=0.4, label="per-image Dice")
    ax.barh([i - 0.2 for i in y], pooled, height=0.4, label="global Dice")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("Dice (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def raw_dataset_folder(env, dataset_id: int) -> str | None:
    root = env["nnUNet_raw"]
    matches = sorted(f for f in os.listdir(root) if f.startswith(f"Dataset{dataset_id:03d}_")) \
        if os.path.isdir(root) else []
    return os.path.join(root, matches[0]) if matches else None


def validation_subset(env, raw: str, out: str, num_val: int | None, seed: int = 0) -> tuple[str, str]:
    """Folders of links to the fold-0 validation cases (all, or a seeded random ``num_val`` of them)."""
    import json

    import numpy as np

    with open(os.path.join(raw, "dataset.json")) as f:
        dataset_json = json.load(f)
    ending = dataset_json["file_ending"]
    splits = json.load(open(os.path.join(env["nnUNet_preprocessed"], os.path.basename(raw), "splits_final.json")))
    val = sorted(splits[0]["val"])
    if num_val and num_val < len(val):
        val = sorted(np.random.default_rng(seed).choice(val, num_val, replace=False).tolist())
    images, labels = os.path.join(out, "val_images"), os.path.join(out, "val_labels")
    for folder in (images, labels):
        os.makedirs(folder, exist_ok=True)
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
    channels = len(dataset_json.get("channel_names", dataset_json.get("modality", {"0": ""})))
    for case in val:
        for c in range(channels):
            name = f"{case}_{c:04d}{ending}"
            os.symlink(os.path.join(raw, "imagesTr", name), os.path.join(images, name))
        os.symlink(os.path.join(raw, "labelsTr", case + ending), os.path.join(labels, case + ending))
    return images, labels


def run_real_benchmark(dataset: str, source: str, dataset_id: int, out: str, trainers, baseline: str | None,
                       size: int | None, max_cases: int | None, num_val: int | None, device: str = "cpu",
                       prompt: str | None = None, overlays: int = 3, controls: bool = True,
                       ext_trainer_folder: str | None = None) -> str:
    """Convert -> plan (with integrity check) -> train -> predict the fold-0 validation split (true, shuffled,
    no reports) -> evaluate -> table.md + dice.png (+ overlays) in ``out/benchmark_<id>/``; returns the table."""
    from nnunetv2_tmca.evaluation.evaluate import compare_runs

    root = os.path.abspath(out)
    env = nnunet_env(root)  # nnUNet_raw/preprocessed/results in ``out``, shared by every dataset there
    if ext_trainer_folder:  # e.g. budget_trainers(); our own trainers are appended by the start-up hook
        env["nnUNet_extTrainer"] = os.pathsep.join(p for p in (ext_trainer_folder, env.get("nnUNet_extTrainer")) if p)
    out = os.path.join(root, f"benchmark_{dataset_id}")  # this dataset's predictions, table, plot, overlays
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "log.txt")
    start = time.time()
    print(f"Working in {out} (commands and their output: {log})")
    step(f"1/5 nnUNetv2_tmca_convert {dataset} (size {size or 'original'}, at most {max_cases or 'all'} cases "
         f"per split)")
    raw = raw_dataset_folder(env, dataset_id)
    if raw is None:
        cmd = ["nnUNetv2_tmca_convert", dataset, source, "-d", str(dataset_id), "--no_progress"]
        cmd += (["--size", str(size)] if size else []) + (["--max_cases", str(max_cases)] if max_cases else [])
        cmd += ["--prompt", prompt] if prompt else []
        run_logged(cmd, env, log)
        raw = raw_dataset_folder(env, dataset_id)
    else:
        print(f"    already converted ({raw})")
    step("2/5 nnUNetv2_plan_and_preprocess --verify_dataset_integrity")
    plan(env, raw, dataset_id, "2d", log, verify=True)
    for trainer in list(trainers) + ([baseline] if baseline else []):
        step(f"3/5 nnUNetv2_train {dataset_id} 2d 0 -tr {trainer}")
        train(env, raw, dataset_id, "2d", trainer, device, log)
    images, labels = validation_subset(env, raw, out, num_val)
    step(f"4/5 fold-0 validation split: {len(os.listdir(labels))} cases")
    summaries = predict_and_evaluate(env, dataset_id, "2d", trainers, baseline, images, labels,
                                     os.path.join(raw, "reports.json"), out, device, log, controls)
    table = compare_runs(summaries)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    plot_dice(summaries, os.path.join(out, "dice.png"), f"{os.path.basename(raw)}: fold-0 validation, "
                                                        f"{len(os.listdir(labels))} cases")
    if overlays and trainers:
        step("5/5 overlays")
        cases = sorted(s["case"] for s in next(iter(summaries.values()))["per_case"])[:overlays]
        run_logged(["nnUNetv2_tmca_visualize", "-i", images, "-o", os.path.join(out, "overlays"), "-d",
                    str(dataset_id), "-c", "2d", "-tr", trainers[0], "-f", "0", "--labels", labels, "--reports",
                    os.path.join(raw, "reports.json"), "--cases",
                    *cases, "-device", device], env, log)
    print(f"\n{os.path.basename(raw)}, fold-0 validation split (per-image mean and pooled global):\n")
    print(table)
    print(f"\nTable: {os.path.join(out, 'table.md')}; plot: {os.path.join(out, 'dice.png')}; "
          f"total {time.time() - start:.0f} s")
    return table


def budget_trainers(folder: str, bases, epochs: int, iterations: int, batch_size: int) -> list:
    """Write ``folder/tmca_budget_trainers.py`` with one class per base trainer at this budget and return their
    names (``<base>_e{epochs}i{iterations}b{batch}``). Put ``folder`` into ``nnUNet_extTrainer`` so that the
    stock ``nnUNetv2_train`` finds them; the model folder's name then says the budget."""
    tag = f"_e{int(epochs)}i{int(iterations)}b{int(batch_size)}"
    lines = ['"""Budget variants written by nnunetv2_tmca.evaluation.comparison.budget_trainers."""',
             "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: F401",
             "import nnunetv2_tmca.training as tmca_trainers",
             "from nnunetv2_tmca.training.variants.schedules.budgets import BudgetMixin", ""]
    names = []
    for base in bases:
        source = "nnUNetTrainer" if base == "nnUNetTrainer" else f"tmca_trainers.{base}"
        names.append(base + tag)
        lines += [f"class {base + tag}(BudgetMixin, {source}):",
                  f"    budget_epochs, budget_iterations, budget_val_iterations, budget_batch_size = "
                  f"{int(epochs)}, {int(iterations)}, {max(1, int(iterations) // 4)}, {int(batch_size)}", "", ""]
    os.makedirs(folder, exist_ok=True)
    from nnunetv2_tmca.io_utils import atomic_write_bytes
    atomic_write_bytes(("\n".join(lines).rstrip() + "\n").encode(), os.path.join(folder, "tmca_budget_trainers.py"))
    return names
