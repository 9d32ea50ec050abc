"""Paired, seeded comparison of trainers whose runs were made by separate benchmark commands.

Each ``--model TRAINER RUN_DIR [RUN_DIR ...]`` names a trainer and the output folders (``--out``) of its
independent runs of ``synthetic_report_guided.py``, ``qata_cov19.py`` or ``kvasir_seg.py`` on the same held-out
cases. The first model is the reference. For every report kind (true, shuffled, no report) the table gives each
model's per-image Dice as mean +- sd (n-1) over its runs and the paired difference against the reference: the
mean over cases of the run-averaged per-case Dice difference with its 95 % percentile bootstrap interval over the
cases (``nnunetv2_tmca.evaluation.paired``; 10,000 resamples), and the share of cases where the model is better.

    python benchmarks/paired_runs.py --model nnUNetTrainerTMCA_synth /tmp/clin_def /tmp/clin_def2 /tmp/clin_def3 \\
        --model nnUNetTrainerTMCA_noCrossAttention_synth /tmp/clin_nca1 /tmp/clin_nca2 /tmp/clin_nca3

Predictions are read from ``RUN_DIR/**/predictions/<trainer>/<kind>``, references from the run's own labels
(``benchmark_*/val_labels`` of the real-data scripts, else ``nnUNet_raw/Dataset*/labelsTs``): the data of every
run are regenerated from the same seeds, and a run scoring other cases than the others stops the comparison.
"""
import argparse
import glob
import os

from nnunetv2_tmca.evaluation.paired import mean_sd, paired_bootstrap, per_case_dice, run_means

KINDS = (("true", "true reports"), ("shuffled", "shuffled reports"), ("no_text", "no report"))
LABEL_PATTERNS = ("benchmark_*/val_labels", "nnUNet_raw/Dataset*/labelsTs")


def run_labels(run: str) -> str:
    for pattern in LABEL_PATTERNS:
        found = sorted(glob.glob(os.path.join(run, pattern)))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise SystemExit(f"{run}: several label folders match {pattern}: {found}")
    raise SystemExit(f"{run}: no label folder ({' or '.join(LABEL_PATTERNS)})")


def run_predictions(run: str, trainer: str, kind: str) -> str | None:
    found = sorted(glob.glob(os.path.join(run, "**", "predictions", trainer, kind), recursive=True))
    if len(found) > 1:
        raise SystemExit(f"{run}: several prediction folders of {trainer}/{kind}: {found}")
    return found[0] if found else None


def model_scores(trainer: str, runs, kind: str):
    """[{case: Dice} per run], or None when a run has no predictions of this kind."""
    scores = []
    for run in runs:
        predictions = run_predictions(run, trainer, kind)
        if predictions is None:
            return None
        scores.append(per_case_dice(run_labels(run), predictions))
    return scores


def table(models) -> str:
    reference = models[0][0]
    lines = [f"| Trainer | reports | per-image Dice (%), mean +- sd | runs | vs {reference}: paired difference "
             "[95 % CI] | cases better / worse |", "|---|---|---:|---|---:|---:|"]
    for kind, label in KINDS:
        ref_scores = model_scores(reference, models[0][1], kind)
        for trainer, runs in models:
            scores = ref_scores if trainer == reference else model_scores(trainer, runs, kind)
            if scores is None:
                continue
            means = run_means(scores)
            if trainer == reference or ref_scores is None:
                diff, share = "reference" if trainer == reference else "", ""
            else:
                p = paired_bootstrap(scores, ref_scores)
                diff = f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"
                share = f"{100 * p['share_better']:.0f} % / {100 * p['share_worse']:.0f} %"
            lines.append(f"| {trainer} | {label} | {mean_sd(means)} | {', '.join(f'{v:.2f}' for v in means)} | "
                         f"{diff} | {share} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", action="append", required=True, metavar=("TRAINER", "RUN_DIR"),
                   help="a trainer and its run folders; the first --model is the reference")
    args = p.parse_args()
    models = []
    for spec in args.model:
        if len(spec) < 2:
            p.error(f"--model {spec[0]}: give the trainer and at least one run folder")
        models.append((spec[0], spec[1:]))
    print(table(models))


if __name__ == "__main__":
    main()
