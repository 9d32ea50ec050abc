"""Few reports: per-image Dice against the share of training cases that have a report (documentation/
benchmarks.md, "Few reports").

For each fraction f (1 = the dataset as it is): a copy of the raw dataset whose image folders are links and
whose ``reports.json`` keeps the reports of a seeded share f of the training cases
(``dataset_conversion/partial_reports.py``; nested sets, ``reports_optional`` on), planned, the TMCA trainer
trained on it, the evaluation cases predicted with their true reports and with none. The image-only
nnU-Net, trained once on the full dataset, is the horizontal line. Writes ``curve.md`` and ``curve.png``.
"""
from __future__ import annotations

import os
import re

from nnunetv2_tmca.experiments.comparison import plan, predict_and_evaluate, train_many
from nnunetv2_tmca.experiments.runner import step


def fraction_dataset_id(raw_root: str, base_id: int, name: str, fraction: float) -> int:
    """The id of the existing copy for ``fraction`` of dataset ``name``, else the first free id above ``base_id``."""
    suffix = f"_{name}R{int(round(100 * fraction)):03d}"
    taken = {}
    for d in os.listdir(raw_root):
        m = re.fullmatch(r"Dataset(\d{3})_(.+)", d)
        if m:
            taken[int(m.group(1))] = "_" + m.group(2)
    for i, s in taken.items():
        if s == suffix:
            return i
    for i in list(range(base_id + 1, 1000)) + list(range(1, base_id)):
        if i not in taken:
            return i
    raise RuntimeError(f"no free dataset id in {raw_root}")


def curve_table(rows: list, baseline: float | None, baseline_name: str | None) -> str:
    lines = ["| training cases with a report | per-image Dice, true reports (%) | per-image Dice, no report (%) |",
             "|---:|---:|---:|"]
    lines += [f"| {100 * f:.0f} % | {t:.2f} | {n:.2f} |" for f, t, n in rows]
    if baseline is not None:
        lines.append(f"| {baseline_name} (image only) | {baseline:.2f} | {baseline:.2f} |")
    return "\n".join(lines)


def plot_curve(rows: list, baseline: float | None, path: str, title: str = ""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows)
    x = [100 * f for f, _, _ in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(x, [t for _, t, _ in rows], "o-", label="TMCA, true reports")
    ax.plot(x, [n for _, _, n in rows], "s--", label="TMCA, no report")
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label="image-only nnU-Net")
    ax.set_xlabel("training cases with a report (%)")
    ax.set_ylabel("per-image Dice (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_report_curve(env, base_raw: str, base_id: int, trainer: str, baseline: str | None, fractions, images: str,
                     labels: str, out: str, device: str, log: str, seed: int = 0, use_splits: bool = False,
                     config: str = "2d") -> str:
    """Train ``trainer`` once per report fraction and predict ``images`` (true reports: the base dataset's
    ``reports.json``) with and without reports; returns the markdown table (also ``out/curve.md``, plot
    ``out/curve.png``). ``use_splits``: only fold 0's training cases lose reports (real data, whose fold-0
    validation cases are the evaluation cases)."""
    from nnunetv2_tmca.dataset_conversion.partial_reports import partial_reports_copy

    os.makedirs(out, exist_ok=True)
    name = os.path.basename(os.path.normpath(base_raw)).split("_", 1)[1]
    reports_file = os.path.join(base_raw, "reports.json")
    rows, baseline_dice = [], None
    for fraction in sorted(set(fractions), reverse=True):
        if fraction >= 1:
            dataset_id, raw = base_id, base_raw
        else:
            dataset_id = fraction_dataset_id(env["nnUNet_raw"], base_id, name, fraction)
            raw = partial_reports_copy(base_raw, env["nnUNet_raw"], dataset_id, fraction, seed,
                                       env["nnUNet_preprocessed"], use_splits)
        step(f"report curve: {100 * fraction:.0f} % of the training cases with a report "
             f"({os.path.basename(raw)})")
        plan(env, raw, dataset_id, config, log)
        train_many(env, raw, dataset_id, config, [trainer] + ([baseline] if baseline and fraction >= 1 else []),
                   device, log)
        summaries = predict_and_evaluate(env, dataset_id, config, [trainer], baseline if fraction >= 1 else None,
                                         images, labels, reports_file, os.path.join(out, f"R{100 * fraction:03.0f}"),
                                         device, log)
        dice = {k: 100 * v["per_image_mean"]["Dice"] for k, v in summaries.items()}
        rows.append((fraction, dice[f"{trainer}, true reports"], dice[f"{trainer}, no report"]))
        if baseline and fraction >= 1:
            baseline_dice = dice[f"{baseline} (image only)"]
    table = curve_table(sorted(rows, reverse=True), baseline_dice, baseline)
    with open(os.path.join(out, "curve.md"), "w") as f:
        f.write(table + "\n")
    plot_curve(rows, baseline_dice, os.path.join(out, "curve.png"), f"{name}: {trainer}")
    return table
