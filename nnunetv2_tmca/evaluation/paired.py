"""Seeded comparisons of two models on the same held-out cases.

Each model is trained ``R`` times (independent runs); ``scores[r][case]`` is one run's per-case Dice.

- ``run_means``: the per-image Dice of each run, whose mean +- sd (n-1) is the seed-to-seed spread.
- ``paired_bootstrap``: the difference of a model against a reference, case by case. Per case i the Dice is
  first averaged over each model's runs, d_i = mean_r A_r(i) - mean_r B_r(i); the estimate is mean_i d_i and the
  95 % interval is the percentile interval of that mean over ``n_boot`` resamples of the cases with
  replacement (the same resample for both models: paired). It measures how sure the case sample makes the
  difference; the run-to-run spread is reported beside it, not folded into it.
"""
from __future__ import annotations

import numpy as np


def per_case_dice(labels: str, predictions: str) -> dict:
    """case -> Dice (%) of one prediction folder against its label folder."""
    from nnunetv2_tmca.evaluation.evaluate import evaluate_folders
    return {c["case"]: 100 * c["Dice"] for c in evaluate_folders(labels, predictions)["per_case"]}


def mean_sd(values) -> str:
    """'mean +- sd' (n-1; 0 for one value), two decimals: how the benchmark tables print runs."""
    return f"{np.mean(values):.2f} +- {np.std(values, ddof=1) if len(values) > 1 else 0:.2f}"


def run_means(scores) -> list:
    """Per-image mean Dice of every run (``scores``: list of {case: Dice})."""
    return [float(np.mean(list(run.values()))) for run in scores]


def case_means(scores) -> dict:
    """case -> Dice averaged over the runs; every run must score the same cases."""
    cases = sorted(scores[0])
    for k, run in enumerate(scores[1:], start=2):
        if sorted(run) != cases:
            raise ValueError(f"run {k} scores other cases than run 1 ({len(run)} vs {len(cases)} cases)")
    return {c: float(np.mean([run[c] for run in scores])) for c in cases}


def paired_bootstrap(scores_a, scores_b, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean per-case difference A - B of the run-averaged Dice and its bootstrap interval over the cases."""
    a, b = case_means(scores_a), case_means(scores_b)
    if sorted(a) != sorted(b):
        raise ValueError(f"the two models were scored on different cases ({len(a)} vs {len(b)})")
    d = np.array([a[c] - b[c] for c in sorted(a)])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"mean": float(d.mean()), "low": float(low), "high": float(high), "n_cases": int(len(d)),
            "share_better": float(np.mean(d > 0)), "share_worse": float(np.mean(d < 0))}
