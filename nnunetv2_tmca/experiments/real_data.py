"""A public dataset end to end: convert -> plan -> train -> predict the fold-0 validation split with true,
shuffled and no reports -> evaluate -> table, plot and overlays."""
from __future__ import annotations

import os
import time

from nnunetv2_tmca.experiments.comparison import plan, plot_dice, predict_and_evaluate, train
from nnunetv2_tmca.experiments.runner import nnunet_env, run_logged, step


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
    if ext_trainer_folder:  # e.g. write_budget_trainers(); our own trainers are appended by the start-up hook
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


