"""What the agreement score means: AUROC of true vs wrong reports on held-out cases, per run and mean +- sd.

Each --run is the --out folder of ``synthetic_report_guided.py`` or ``qata_cov19.py`` (one trained model
each). Per held-out case the model predicts with the true report, another case's report (the swapped-case
error) and edited reports (sides swapped, zones swapped, target sentences deleted); the table gives the
AUROC of the score (and of each signal alone) for each kind of error, the Dice of flagged vs unflagged
cases with true reports, and, for the synthetic sets, the ceiling any score can reach (experiments/
agreement_eval.py). Report text is never printed.

    # short-report synthetic set, 3 runs (seed 1, 5-6 lesions: the benchmark's defaults)
    python benchmarks/agreement_auroc.py --run /tmp/h1 /tmp/h2 /tmp/h3 --synthetic_seed 1
    # clinical-style set: the target sentences are the ones naming a nodule
    python benchmarks/agreement_auroc.py --run /tmp/c1 /tmp/c2 /tmp/c3 --synthetic_seed 1 --target_words '\\bnodul'
    # QaTa-COV19 fold-0 validation subset written by qata_cov19.py
    python benchmarks/agreement_auroc.py --run /tmp/q1 /tmp/q2 /tmp/q3 --max_cases 100
    # one run per call (e.g. in parallel, one core each) with --json, then the mean +- sd of the saved runs:
    python benchmarks/agreement_auroc.py --from_json /tmp/h1.json /tmp/h2.json /tmp/h3.json
"""
import argparse
import glob
import json
import os

import numpy as np


def locate(run: str) -> dict:
    """Model folder, images, labels and reports of one benchmark run folder."""
    models = [m for m in glob.glob(os.path.join(run, "nnUNet_results", "Dataset*", "*__*__*"))
              if os.path.isfile(os.path.join(m, "fold_0", "checkpoint_final.pth")) and "TMCA" in os.path.basename(m)]
    if len(models) != 1:
        raise SystemExit(f"{run}: expected one trained TMCA model under nnUNet_results, found {len(models)}")
    raw = glob.glob(os.path.join(run, "nnUNet_raw", "Dataset*"))[0]
    val = glob.glob(os.path.join(run, "benchmark_*", "val_images"))
    images, labels = ((val[0], val[0].replace("val_images", "val_labels")) if val else
                      (os.path.join(raw, "imagesTs"), os.path.join(raw, "labelsTs")))
    return {"model": models[0], "raw": raw, "images": images, "labels": labels,
            "reports": os.path.join(raw, "reports.json")}


def subset_labels(labels: str, max_cases: int, tmp: str) -> str:
    """A folder of links to a seeded subset of ``max_cases`` label files (all when 0)."""
    files = sorted(os.listdir(labels))
    if not max_cases or max_cases >= len(files):
        return labels
    keep = np.random.default_rng(0).choice(len(files), max_cases, replace=False)
    os.makedirs(tmp, exist_ok=True)
    for i in sorted(keep):
        link = os.path.join(tmp, files[i])
        if not os.path.exists(link):
            os.symlink(os.path.join(labels, files[i]), link)
    return tmp


def layouts_of(run: str, results: dict, args) -> dict:
    """Lesion and target cells of the run's test cases (and of the swapped reports' sources), regenerated."""
    from nnunetv2_tmca.experiments.agreement_eval import synthetic_layouts
    ids = sorted(set(results) | {r["source"] for r in results.values()})
    return synthetic_layouts(locate(run)["raw"], ids, args.synthetic_seed, args.num_lesions)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", nargs="+", default=[], help="benchmark --out folders, one trained model each")
    p.add_argument("--from_json", nargs="+", default=[],
                   help="instead of predicting: the --json files of earlier calls (one run or more each); prints "
                        "their tables and the mean +- sd over all their runs")
    p.add_argument("--target_words", default=None,
                   help="regex of the target's words, for the delete-target edit (sentences matching it are dropped)")
    p.add_argument("--synthetic_seed", type=int, default=None,
                   help="the synthetic generator's --seed: also compute the ceiling of each AUROC")
    p.add_argument("--num_lesions", type=int, nargs=2, default=(5, 6))
    p.add_argument("--max_cases", type=int, default=0, help="a seeded subset of N held-out cases (0: all)")
    p.add_argument("--disable_tta", action="store_true", help="predict without test-time mirroring")
    p.add_argument("-device", default="cpu")
    p.add_argument("--json", default=None, help="also write every per-case record and table here")
    args = p.parse_args()
    if not args.run and not args.from_json:
        p.error("give --run folders or --from_json files")

    from nnunetv2_tmca.experiments.agreement_eval import SIGNALS, markdown

    tables, everything = [], {}
    for path in args.from_json:
        with open(path) as f:
            for run, saved in json.load(f).items():
                if args.synthetic_seed is not None and os.path.isdir(run):  # re-derive the ceilings
                    from nnunetv2_tmca.experiments.agreement_eval import auroc_table, synthetic_ceilings
                    results = saved["cases"]
                    saved["table"] = auroc_table(results, *synthetic_ceilings(
                        layouts_of(run, results, args), results))
                tables.append((saved["table"], saved["flagged"]))
                everything[run] = saved
                print("\n" + markdown(saved["table"], saved["flagged"], f"{run} ({path}), {len(saved['cases'])} cases"))
    for run in args.run:
        import torch

        from nnunetv2_tmca.experiments.agreement_eval import auroc_table, flagged_dice, score_cases, synthetic_ceilings
        from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA

        where = locate(run)
        with open(where["reports"]) as f:
            reports = json.load(f)
        labels = subset_labels(where["labels"], args.max_cases, os.path.join(run, "agreement_labels_subset"))
        predictor = nnUNetPredictorTMCA(tile_step_size=0.5, use_mirroring=not args.disable_tta,
                                        device=torch.device(args.device), allow_tqdm=False, agreement=True)
        predictor.initialize_from_trained_model_folder(where["model"], (0,), "checkpoint_final.pth")
        results = score_cases(predictor, where["images"], labels, reports, args.target_words)
        ceilings = (None, None)
        if args.synthetic_seed is not None:
            ceilings = synthetic_ceilings(layouts_of(run, results, args), results)
        table, flagged = auroc_table(results, *ceilings), flagged_dice(results)
        tables.append((table, flagged))
        everything[run] = {"table": table, "flagged": flagged, "cases": results}
        print("\n" + markdown(table, flagged, f"{run}: {os.path.basename(where['model'])}, {len(results)} cases"))

    if len(tables) > 1:
        print(f"\n**Mean +- sd over {len(tables)} runs**\n")
        print("| wrong report | AUROC of the score | ceiling | AUROC where detectable | " +
              " | ".join(f"{s} alone" for s in SIGNALS) + " |")
        print("|---|---:|---:|---:|" + "---:|" * len(SIGNALS))
        for kind in tables[0][0]:
            rows = [t[kind] for t, _ in tables if kind in t]
            ms = lambda key: (f"{np.mean([r[key] for r in rows]):.3f} +- {np.std([r[key] for r in rows], ddof=1):.3f}"  # noqa: E731
                              if all(key in r for r in rows) else "-")
            print(f"| {kind} | **{ms('auroc')}** | {ms('ceiling')} | {ms('auroc_detectable')} | " +
                  " | ".join(ms(s) for s in SIGNALS) + " |")
        f = [fl for _, fl in tables]
        m = lambda key: np.mean([x[key] for x in f]) * 100  # noqa: E731
        flagged_n = np.mean([x["flagged_n"] for x in f])
        print(f"\nTrue reports, mean over runs: flagged Dice {m('flagged_dice'):.1f} (n {flagged_n:.1f}) "
              f"vs not flagged {m('clean_dice'):.1f}; lowest-scoring quarter {m('lowest_quarter_dice'):.1f} vs rest "
              f"{m('rest_dice'):.1f}")
    if args.json:
        from nnunetv2_tmca.io_utils import atomic_write_json
        atomic_write_json(everything, args.json)


if __name__ == "__main__":
    main()
