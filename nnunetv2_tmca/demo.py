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
import subprocess
import tempfile
import time

DEMO_ID = 999


def _step(msg: str):
    print(f"\n[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _run(cmd, env, log_file):
    with open(log_file, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        p = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SystemExit(f"nnUNetv2_tmca_demo: '{' '.join(cmd)}' failed; see {log_file}")


def run_comparison(out: str, trainers, baseline: str | None, num_train: int, num_test: int, size: int,
                   dataset_id: int = DEMO_ID, device: str = "cpu", seed: int = 7, overlays: int = 3,
                   dim: int = 2) -> str:
    """Dataset -> plan -> train each trainer (+ image-only baseline) -> predict true/shuffled/no reports ->
    evaluate -> markdown table (returned and written to out/table.md). Used by the demo and the benchmark."""
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, nnUNet_raw=os.path.join(out, "nnUNet_raw"),
               nnUNet_preprocessed=os.path.join(out, "nnUNet_preprocessed"),
               nnUNet_results=os.path.join(out, "nnUNet_results"), nnUNet_def_n_proc="1", MPLBACKEND="Agg")
    env.pop("nnUNet_n_proc_DA", None)
    train_env = dict(env, nnUNet_n_proc_DA="0")
    log = os.path.join(out, "log.txt")
    start = time.time()
    print(f"Working in {out} (commands and their output: {log})")

    from nnunetv2_tmca.dataset_conversion.synthetic import make_synthetic_dataset
    from nnunetv2_tmca.evaluation.controls import shuffle_reports
    from nnunetv2_tmca.evaluation.evaluate import compare_runs, evaluate_folders
    from nnunetv2_tmca.reports import atomic_write_json, load_reports

    config = "2d" if dim == 2 else "3d_fullres"
    ending = ".png" if dim == 2 else ".nii.gz"
    _step(f"1/6 synthetic report-guided dataset: {num_train} training + {num_test} test images ({size} px, "
          f"{dim}D, 4-5 look-alike lesions each; the report names the targets)")
    raw = os.path.join(env["nnUNet_raw"], f"Dataset{dataset_id}_TMCASynthetic")
    if not os.path.isdir(raw):
        raw = make_synthetic_dataset(env["nnUNet_raw"], dataset_id, num_train=num_train, num_test=num_test,
                                     size=size, dim=dim, seed=seed)
    _step("2/6 nnUNetv2_plan_and_preprocess (stock nnU-Net)")
    if os.path.isfile(os.path.join(env["nnUNet_preprocessed"], os.path.basename(raw), "nnUNetPlans.json")):
        print("    already planned and preprocessed")
    else:
        _run(["nnUNetv2_plan_and_preprocess", "-d", str(dataset_id), "-c", config, "-np", "1", "-npfp", "1"], env,
             log)

    for trainer in list(trainers) + ([baseline] if baseline else []):
        _step(f"3/6 nnUNetv2_train {dataset_id} {config} 0 -tr {trainer}")
        final = os.path.join(env["nnUNet_results"], os.path.basename(raw), f"{trainer}__nnUNetPlans__{config}",
                             "fold_0", "checkpoint_final.pth")
        if os.path.isfile(final):
            print(f"    already trained ({final}); delete it to train again")
            continue
        t0 = time.time()
        _run(["nnUNetv2_train", str(dataset_id), config, "0", "-tr", trainer, "-device", device], train_env, log)
        print(f"    {time.time() - t0:.0f} s")

    reports = load_reports(os.path.join(raw, "reports.json"))
    test_ids = sorted(f[:-len("_0000" + ending)] for f in os.listdir(os.path.join(raw, "imagesTs")))
    shuffled = os.path.join(out, "reports_shuffled.json")
    atomic_write_json(shuffle_reports({c: reports[c] for c in test_ids}, seed=0), shuffled)
    pred = os.path.join(out, "predictions")
    common = ["-i", os.path.join(raw, "imagesTs"), "-d", str(dataset_id), "-c", config, "-f", "0", "-device",
              device, "-npp", "0", "-nps", "0", "--disable_progress_bar"]
    runs = {}
    for trainer in trainers:
        runs[f"{trainer}, true reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "-o",
                                            os.path.join(pred, trainer, "true")]
        runs[f"{trainer}, shuffled reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--reports", shuffled,
                                                "-o", os.path.join(pred, trainer, "shuffled")]
        runs[f"{trainer}, no report"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--no_text", "-o",
                                         os.path.join(pred, trainer, "no_text")]
    if baseline:
        runs[f"{baseline} (image only)"] = ["nnUNetv2_predict", "-tr", baseline, "-o",
                                            os.path.join(pred, baseline)]
    _step("4/6 predicting the held-out test images: true, shuffled and no reports; image-only baseline")
    for name, cmd in runs.items():
        _run(cmd + common, env, log)

    _step("5/6 evaluating against labelsTs")
    summaries = {name: evaluate_folders(os.path.join(raw, "labelsTs"), cmd[cmd.index("-o") + 1])
                 for name, cmd in runs.items()}
    table = compare_runs(summaries)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")

    if overlays and trainers:
        _step("6/6 overlays of prediction, reference and the report-to-pixel target maps")
        pictures = os.path.join(out, "overlays")
        _run(["nnUNetv2_tmca_visualize", "-i", os.path.join(raw, "imagesTs"), "-o", pictures, "-d", str(dataset_id),
              "-c", config, "-tr", trainers[0], "-f", "0", "--labels", os.path.join(raw, "labelsTs"), "--cases",
              *test_ids[:overlays], "-device", device], env, log)
    print(f"\nDice and IoU on {len(test_ids)} held-out synthetic cases (per-image mean and pooled global):\n")
    print(table)
    print(f"\nEverything is in {out}; total time {time.time() - start:.0f} s.")
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="keep everything in this folder (default: a temporary one)")
    p.add_argument("--num_train", type=int, default=100)
    p.add_argument("--num_test", type=int, default=24)
    p.add_argument("--size", type=int, default=48, help="image size (pixels)")
    p.add_argument("--trainer", default="nnUNetTrainerTMCA_demo")
    p.add_argument("--baseline", default="nnUNetTrainer_demo")
    p.add_argument("-device", default="cpu")
    args = p.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="nnunetv2_tmca_demo_")
    run_comparison(out, [args.trainer], args.baseline, args.num_train, args.num_test, args.size, device=args.device)
    pictures = os.path.join(out, "overlays")
    if os.path.isdir(pictures):
        print("Overlays: " + ", ".join(sorted(os.path.join(pictures, f) for f in os.listdir(pictures))))


if __name__ == "__main__":
    main()
