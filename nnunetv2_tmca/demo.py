"""``nnUNetv2_tmca_demo``: the whole product on a synthetic report-guided dataset, on the CPU, in minutes.

In a folder of its own (a temporary one unless ``--out``), with the nnU-Net path variables set
for it: make the dataset (several look-alike lesions per image; the report says which are the
target), run the stock ``nnUNetv2_plan_and_preprocess`` and ``nnUNetv2_train -tr
nnUNetTrainerTMCA_demo`` plus the image-only ``nnUNetTrainer_demo`` at the same budget, predict the
held-out cases with true, shuffled and no reports, evaluate, print one table and write overlays.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from nnunetv2_tmca.experiments.comparison import plan, predict_and_evaluate, train, train_many
from nnunetv2_tmca.experiments.runner import cores_for_side_by_side, nnunet_env, run_logged, step

DEMO_ID = 999


def run_comparison(out: str, trainers, baseline: str | None, num_train: int, num_test: int, size: int,
                   dataset_id: int = DEMO_ID, device: str = "cpu", seed: int = 7, overlays: int = 3,
                   dim: int = 2, side_by_side: bool = False, num_lesions: tuple = (4, 5),
                   report_style: str = "short", controls: bool = True) -> str:
    """Dataset -> plan -> train each trainer (+ image-only baseline) -> predict true/shuffled/no reports ->
    evaluate -> markdown table (returned and written to out/table.md). Used by the demo and the benchmark.
    ``controls=False``: true reports only (no shuffled and no-report predictions)."""
    from nnunetv2_tmca.dataset_conversion.synthetic import make_synthetic_dataset
    from nnunetv2_tmca.evaluation.evaluate import compare_runs

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
    raw = os.path.join(env["nnUNet_raw"], f"Dataset{dataset_id}_TMCASynthetic")
    if not os.path.isdir(raw):
        raw = make_synthetic_dataset(env["nnUNet_raw"], dataset_id, num_train=num_train, num_test=num_test,
                                     size=size, dim=dim, seed=seed, num_lesions=tuple(num_lesions),
                                     report_style=report_style)
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="keep everything in this folder (default: a temporary one)")
    p.add_argument("--num_train", type=int, default=100)
    p.add_argument("--num_test", type=int, default=24)
    p.add_argument("--size", type=int, default=32, help="image size (pixels)")
    p.add_argument("--trainer", default="nnUNetTrainerTMCA_demo")
    p.add_argument("--baseline", default="nnUNetTrainer_demo")
    p.add_argument("-device", default="cpu")
    p.add_argument("--one_at_a_time", action="store_true",
                   help="on the CPU, run the trainings and predictions one after the other instead of side by side "
                        "on pinned cores")
    args = p.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="nnunetv2_tmca_demo_")
    run_comparison(out, [args.trainer], args.baseline, args.num_train, args.num_test, args.size, device=args.device,
                   side_by_side=not args.one_at_a_time)
    pictures = os.path.join(out, "overlays")
    if os.path.isdir(pictures):
        print("Overlays: " + ", ".join(sorted(os.path.join(pictures, f) for f in os.listdir(pictures))))
    print("\nLook at the test cases, edit a report and watch the mask (pip install \"nnunetv2_tmca[viewer]\"):\n  "
          + viewer_command(out, args.trainer, args.device))


def viewer_command(out: str, trainer: str, device: str = "cpu", dataset_id: int = DEMO_ID) -> str:
    """The one command that opens the demo's model and test cases in nnUNetv2_tmca_viewer."""
    raw = os.path.join(out, "nnUNet_raw", f"Dataset{dataset_id}_TMCASynthetic")
    model = os.path.join(out, "nnUNet_results", f"Dataset{dataset_id}_TMCASynthetic", f"{trainer}__nnUNetPlans__2d")
    return (f"nnUNetv2_tmca_viewer -m {model} -f 0 -i {os.path.join(raw, 'imagesTs')} "
            f"--labels {os.path.join(raw, 'labelsTs')} -device {device}")


if __name__ == "__main__":
    main()
