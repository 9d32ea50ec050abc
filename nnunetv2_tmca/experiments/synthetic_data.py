"""The synthetic report-guided set end to end: make it -> plan -> train each trainer (+ the image-only
baseline) -> predict the held-out cases with true, shuffled and no reports -> evaluate -> table and overlays.

The engine of ``nnUNetv2_tmca_demo`` and of the synthetic benchmark scripts. Each step is skipped when its
result exists (the dataset folder, the plans, a model's ``checkpoint_final.pth``, up-to-date predictions).
"""
from __future__ import annotations

import os
import time

from nnunetv2_tmca.experiments.comparison import plan, predict_and_evaluate, train, train_many
from nnunetv2_tmca.experiments.runner import cores_for_side_by_side, nnunet_env, run_logged, step

DATASET_NAME = "TMCASynthetic"  # make_synthetic_dataset's default name


def run_comparison(out: str, trainers, baseline: str | None, num_train: int, num_test: int, size: int,
                   dataset_id: int, device: str = "cpu", seed: int = 7, overlays: int = 3,
                   dim: int = 2, side_by_side: bool = False, num_lesions: tuple = (4, 5),
                   report_style: str = "short", controls: bool = True, report_corpus: str | None = None) -> str:
    """Dataset -> plan -> train each trainer (+ image-only baseline) -> predict true/shuffled/no reports ->
    evaluate -> markdown table (returned and written to out/table.md).
    ``controls=False``: true reports only (no shuffled and no-report predictions).
    ``report_corpus``: the JSON file of real reports that ``report_style="real"`` takes its prose from."""
    from nnunetv2_tmca.evaluation.evaluate import compare_runs
    from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset

    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    env = nnunet_env(out)
    log = os.path.join(out, "log.txt")
    start = time.time()
    print(f"Working in {out} (commands and their output: {log})")
    config = "2d" if dim == 2 else "3d_fullres"
    step(f"1/6 synthetic report-guided dataset: {num_train} training + {num_test} test images ({size} px, "
         f"{dim}D, {num_lesions[0]}-{num_lesions[1]} look-alike lesions each; the report names the targets; "
         f"{report_style} reports)")
    raw = os.path.join(env["nnUNet_raw"], f"Dataset{int(dataset_id):03d}_{DATASET_NAME}")
    if not os.path.isdir(raw):
        raw = make_synthetic_dataset(env["nnUNet_raw"], dataset_id, DATASET_NAME, num_train=num_train,
                                     num_test=num_test, size=size, dim=dim, seed=seed,
                                     num_lesions=tuple(num_lesions), report_style=report_style,
                                     report_corpus=report_corpus)
    step("2/6 nnUNetv2_plan_and_preprocess (stock nnU-Net)")
    plan(env, raw, dataset_id, config, log)
    everyone = list(trainers) + ([baseline] if baseline else [])
    cores = cores_for_side_by_side(device) if side_by_side else []
    if len(cores) >= 2 and len(everyone) > 1:
        step(f"3/6 nnUNetv2_train {dataset_id} {config} 0 -tr ... for {', '.join(everyone)} "
             f"(side by side, one CPU core each)")
        train_many(env, raw, dataset_id, config, everyone, device, log, side_by_side=True)
    else:
        for trainer in everyone:
            step(f"3/6 nnUNetv2_train {dataset_id} {config} 0 -tr {trainer}")
            train(env, raw, dataset_id, config, trainer, device, log)

    step("4-5/6 held-out test images")
    summaries = predict_and_evaluate(env, dataset_id, config, trainers, baseline, os.path.join(raw, "imagesTs"),
                                     os.path.join(raw, "labelsTs"), os.path.join(raw, "reports.json"), out, device,
                                     log, controls=controls, side_by_side=side_by_side)
    table = compare_runs(summaries)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    test_ids = sorted(s["case"] for s in next(iter(summaries.values()))["per_case"])
    if overlays and trainers:
        step("6/6 overlays of prediction, reference and the report-to-pixel target maps")
        pictures = os.path.join(out, "overlays")
        run_logged(["nnUNetv2_tmca_visualize", "-i", os.path.join(raw, "imagesTs"), "-o", pictures, "-d",
                    str(dataset_id), "-c", config, "-tr", trainers[0], "-f", "0", "--labels",
                    os.path.join(raw, "labelsTs"), "--cases", *test_ids[:overlays], "-device", device], env, log)
    print(f"\nDice and IoU on {len(test_ids)} held-out synthetic cases (per-image mean and pooled global):\n")
    print(table)
    print(f"\nEverything is in {out}; total time {time.time() - start:.0f} s.")
    return table
