"""Nested ablations with repeated runs: each ablation and the full model trained ``--runs``
times on one synthetic set, predicted on the held-out cases with true reports (``--controls``: also shuffled and none).

Printed (and written to ``OUT/ablations.md``): per-image Dice with true reports, mean +- sd (n-1) over the runs
and the runs' values; the paired per-case difference against the reference model (``--reference``, the full
model) with its 95 % bootstrap interval over the cases (``nnunetv2_tmca.evaluation.paired``); with
``--controls`` shuffled and no-report Dice (mean +- sd); and the mean training epoch time from nnU-Net's
training logs (the jobs of one run share the machine, so compare epoch times within one table only).

Run k lives in ``OUT/run<k>`` (same data seed, nnU-Net's unseeded initialisation and sampling); finished
trainings and predictions are skipped, so a second call only adds what is missing.

    # the demo-sized set (32x32, 4-5 lesions, demo budget), 3 runs, two trainings at a time
    python benchmarks/seeded_ablations.py --out /tmp/ablations --runs 3 --side_by_side
"""
import argparse
import glob
import os
import re

import numpy as np

from nnunetv2_tmca.evaluation.paired import mean_sd, paired_bootstrap, per_case_dice, run_means
from nnunetv2_tmca.experiments.synthetic_data import run_comparison
from nnunetv2_tmca.training.variants.ablations.tmca_ablations import NESTED_ABLATIONS

KINDS = (("true", "true reports"), ("shuffled", "shuffled reports"), ("no_text", "no report"))


def epoch_time(results: str, trainer: str) -> float:
    """Mean 'Epoch time' of the trainer's fold-0 training logs (nan when none is found)."""
    times = []
    for log in glob.glob(os.path.join(results, "*", f"{trainer}__*", "fold_0", "training_log_*.txt")):
        with open(log) as f:
            times += [float(m) for m in re.findall(r"Epoch time: ([0-9.]+) s", f.read())]
    return float(np.mean(times)) if times else float("nan")


def table(out: str, runs: int, trainers, reference: str, baseline: str, labels, controls: bool) -> str:
    kinds = [k for k, _ in KINDS] if controls else ["true"]
    scores = {(t, k): [per_case_dice(labels(r), os.path.join(out, f"run{r}", "predictions", t, k))
                       for r in range(1, runs + 1)] for t in trainers for k in kinds}
    extra = " shuffled | no report |" if controls else ""
    lines = [f"| Trainer ({runs} runs) | true reports, per-image Dice | runs | vs {reference}: paired difference "
             f"[95 % CI] |{extra} epoch time (s) |", "|---|---:|---|---:|" + "---:|" * (3 if controls else 1)]
    for t in trainers:
        true = run_means(scores[t, "true"])
        if t == reference:
            diff = "reference"
        else:
            p = paired_bootstrap(scores[t, "true"], scores[reference, "true"])
            diff = f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"
        seconds = np.mean([epoch_time(os.path.join(out, f"run{r}", "nnUNet_results"), t) for r in range(1, runs + 1)])
        controls_cells = "".join(f" {mean_sd(run_means(scores[t, k]))} |" for k in kinds[1:])
        lines.append(f"| {t} | {mean_sd(true)} | {', '.join(f'{v:.2f}' for v in true)} | {diff} |{controls_cells} "
                     f"{seconds:.1f} |")
    if baseline:
        base = run_means([per_case_dice(labels(r), os.path.join(out, f"run{r}", "predictions", baseline))
                          for r in range(1, runs + 1)])
        seconds = np.mean([epoch_time(os.path.join(out, f"run{r}", "nnUNet_results"), baseline)
                           for r in range(1, runs + 1)])
        lines.append(f"| {baseline} (image only) | {mean_sd(base)} | {', '.join(f'{v:.2f}' for v in base)} | |"
                     f"{' |' * (len(kinds) - 1)} {seconds:.1f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--budget", default="demo", help="named budget appended to every trainer (default: demo)")
    p.add_argument("--reference", default="nnUNetTrainerTMCA", help="the full model (without the budget suffix)")
    p.add_argument("--ablations", nargs="+", default=[c.__name__ for c in NESTED_ABLATIONS],
                   help="trainers compared with the reference (default: every nested ablation)")
    p.add_argument("--baseline", default="nnUNetTrainer", help="image-only trainer ('' for none)")
    p.add_argument("--num_train", type=int, default=100)
    p.add_argument("--num_test", type=int, default=50)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--num_lesions", type=int, nargs=2, default=(4, 5))
    p.add_argument("--report_style", choices=("short", "clinical"), default="short")
    p.add_argument("-d", dest="dataset_id", type=int, default=989)
    p.add_argument("--data_seed", type=int, default=7, help="seed of the synthetic dataset (the same in every run)")
    p.add_argument("--controls", action="store_true", help="also predict with shuffled reports and without one")
    p.add_argument("--side_by_side", action="store_true", help="two jobs at a time, one CPU core each")
    p.add_argument("-device", default="cpu")
    args = p.parse_args()
    suffix = f"_{args.budget}" if args.budget else ""
    reference = args.reference + suffix
    trainers = [reference] + [a + suffix for a in args.ablations if a + suffix != reference]
    baseline = args.baseline + suffix if args.baseline else ""
    for k in range(1, args.runs + 1):
        run_comparison(os.path.join(args.out, f"run{k}"), trainers, baseline, args.num_train, args.num_test,
                       args.size, dataset_id=args.dataset_id, device=args.device, seed=args.data_seed, overlays=0,
                       side_by_side=args.side_by_side, num_lesions=tuple(args.num_lesions),
                       report_style=args.report_style, controls=args.controls)

    def labels(k):
        raw = os.path.join(args.out, f"run{k}", "nnUNet_raw")
        return os.path.join(raw, next(d for d in os.listdir(raw) if d.startswith(f"Dataset{args.dataset_id}_")),
                            "labelsTs")

    result = table(args.out, args.runs, trainers, reference, baseline, labels, args.controls)
    with open(os.path.join(args.out, "ablations.md"), "w") as f:
        f.write(result + "\n")
    print(f"\nPer-image Dice (%) on the held-out cases, {args.runs} runs per trainer:\n")
    print(result)


if __name__ == "__main__":
    main()
