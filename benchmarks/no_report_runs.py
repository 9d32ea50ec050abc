"""Repeated runs of the synthetic comparison: per-image Dice with true reports, shuffled reports and no report,
mean +- sd over independent trainings, beside the image-only nnU-Net.

Run k trains every trainer from scratch in ``OUT/run<k>`` (same dataset, nnU-Net's unseeded initialisation and
sampling), predicts the held-out images and evaluates; finished steps are skipped, so a second call only adds
what is missing. The table (markdown) is printed and written to ``OUT/table.md``.

    # the demo-sized set (32x32, 4-5 lesions, 7 x 30 iterations), three runs, one core
    taskset -c 1 python benchmarks/no_report_runs.py --out /tmp/null_text --runs 3 \\
        --trainers nnUNetTrainerTMCA_demo nnUNetTrainerTMCA_nullText_demo --baseline nnUNetTrainer_demo
"""
import argparse
import os

from nnunetv2_tmca.evaluation.paired import mean_sd
from nnunetv2_tmca.experiments.synthetic_data import run_comparison

RUN_KINDS = (("true", "true reports"), ("shuffled", "shuffled reports"), ("no_text", "no report"))


def per_image_dice(labels: str, predictions: str) -> float:
    from nnunetv2_tmca.evaluation.evaluate import evaluate_folders
    return 100 * evaluate_folders(labels, predictions)["per_image_mean"]["Dice"]


def collect(out: str, runs: int, trainers, baseline: str, labels: str) -> dict:
    """(row name) -> per-run per-image Dice, from the prediction folders of every run."""
    values = {}
    for k in range(1, runs + 1):
        root = os.path.join(out, f"run{k}", "predictions")
        for trainer in trainers:
            for folder, kind in RUN_KINDS:
                values.setdefault(f"{trainer}, {kind}", []).append(
                    per_image_dice(labels(k), os.path.join(root, trainer, folder)))
        if baseline:
            values.setdefault(f"{baseline} (image only)", []).append(
                per_image_dice(labels(k), os.path.join(root, baseline)))
    return values


def table(values: dict) -> str:
    lines = ["| Run (held-out cases) | per-image Dice (%), mean +- sd | runs |", "|---|---:|---|"]
    for name, v in values.items():
        lines.append(f"| {name} | {mean_sd(v)} | {', '.join(f'{x:.2f}' for x in v)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--trainers", nargs="+", default=["nnUNetTrainerTMCA_demo"])
    p.add_argument("--baseline", default="nnUNetTrainer_demo")
    p.add_argument("--num_train", type=int, default=100)
    p.add_argument("--num_test", type=int, default=24)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--num_lesions", type=int, nargs=2, default=(4, 5))
    p.add_argument("-d", dest="dataset_id", type=int, default=999)
    p.add_argument("--data_seed", type=int, default=7, help="seed of the synthetic dataset (the same in every run)")
    p.add_argument("-device", default="cpu")
    args = p.parse_args()
    for k in range(1, args.runs + 1):
        run_comparison(os.path.join(args.out, f"run{k}"), args.trainers, args.baseline, args.num_train,
                       args.num_test, args.size, dataset_id=args.dataset_id, device=args.device,
                       seed=args.data_seed, overlays=0, num_lesions=tuple(args.num_lesions))

    def labels(k):
        raw = os.path.join(args.out, f"run{k}", "nnUNet_raw")
        return os.path.join(raw, next(d for d in os.listdir(raw) if d.startswith(f"Dataset{args.dataset_id}_")),
                            "labelsTs")

    result = table(collect(args.out, args.runs, args.trainers, args.baseline, labels))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(result + "\n")
    print(result)


if __name__ == "__main__":
    main()
