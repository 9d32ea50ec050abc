"""Train several trainers at one budget and compare them with true, shuffled and no reports.

The shared engine of ``nnUNetv2_tmca_demo`` and the ``benchmarks/`` scripts. Each step is skipped
when its result exists (delete a model's ``checkpoint_final.pth`` to train it again).
"""
from __future__ import annotations

import os

from nnunetv2_tmca.experiments.runner import EpochProgress, cores_for_side_by_side, run_jobs, run_logged, step


def plan(env, dataset_folder: str, dataset_id: int, config: str, log: str, verify: bool = False):
    if os.path.isfile(os.path.join(env["nnUNet_preprocessed"], os.path.basename(dataset_folder), "nnUNetPlans.json")) \
            and os.path.isdir(os.path.join(env["nnUNet_preprocessed"], os.path.basename(dataset_folder),
                                           f"nnUNetPlans_{config}")):
        print("    already planned and preprocessed")
        return
    run_logged(["nnUNetv2_plan_and_preprocess", "-d", str(dataset_id), "-c", config, "-np", "1", "-npfp", "1"]
               + (["--verify_dataset_integrity"] if verify else []), env, log)


def train(env, dataset_folder: str, dataset_id: int, config: str, trainer: str, device: str, log: str):
    train_many(env, dataset_folder, dataset_id, config, [trainer], device, log)


def final_checkpoint(env, dataset_name: str, trainer: str, config: str) -> str:
    """nnU-Net's fold-0 final checkpoint of ``trainer`` (default plans) on ``dataset_name``."""
    return os.path.join(env["nnUNet_results"], dataset_name, f"{trainer}__nnUNetPlans__{config}", "fold_0",
                        "checkpoint_final.pth")


def train_many(env, dataset_folder: str, dataset_id: int, config: str, trainers, device: str, log: str,
               side_by_side: bool = False):
    """``nnUNetv2_train`` fold 0 for each trainer not trained yet; ``side_by_side``: at once on pinned cores."""
    jobs = []
    for trainer in trainers:
        final = final_checkpoint(env, os.path.basename(dataset_folder), trainer, config)
        if os.path.isfile(final):
            print(f"    {trainer}: already trained ({final}); delete it to train again")
            continue
        train_env = dict(env, nnUNet_n_proc_DA=env.get("nnUNet_tmca_n_proc_DA", "0" if device == "cpu" else "4"))
        jobs.append((trainer, ["nnUNetv2_train", str(dataset_id), config, "0", "-tr", trainer, "-device", device],
                     train_env, EpochProgress(trainer if side_by_side and len(trainers) > 1 else "")))
    run_jobs(jobs, log, cores_for_side_by_side(device) if side_by_side else [])


def prediction_runs(trainers, baseline, reports: str, shuffled_reports: str, pred_root: str,
                    controls: bool = True) -> dict:
    """name -> command (without the shared arguments) for every prediction of the comparison."""
    runs = {}
    for trainer in trainers:
        runs[f"{trainer}, true reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--reports", reports, "-o",
                                            os.path.join(pred_root, trainer, "true")]
        if controls:
            runs[f"{trainer}, shuffled reports"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--reports",
                                                    shuffled_reports, "-o", os.path.join(pred_root, trainer,
                                                                                         "shuffled")]
            runs[f"{trainer}, no report"] = ["nnUNetv2_predict_tmca", "-tr", trainer, "--no_text", "-o",
                                             os.path.join(pred_root, trainer, "no_text")]
    if baseline:
        runs[f"{baseline} (image only)"] = ["nnUNetv2_predict", "-tr", baseline, "-o",
                                            os.path.join(pred_root, baseline)]
    return runs


def _predictions_up_to_date(folder: str, ending: str, num_cases: int, env, dataset_id: int, trainer: str,
                            config: str) -> bool:
    """All cases predicted in ``folder``, and after the model's fold-0 final checkpoint was written
    (a model trained again is predicted again)."""
    if not os.path.isdir(folder):
        return False
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(ending)]
    if len(files) != num_cases:
        return False
    results = env["nnUNet_results"]
    prefix = f"Dataset{int(dataset_id):03d}_"
    datasets = [d for d in os.listdir(results) if d.startswith(prefix)] if os.path.isdir(results) else []
    checkpoints = [final_checkpoint(env, d, trainer, config) for d in datasets]
    newest_model = max((os.path.getmtime(c) for c in checkpoints if os.path.isfile(c)), default=0.0)
    return min(os.path.getmtime(f) for f in files) > newest_model


def predict_and_evaluate(env, dataset_id: int, config: str, trainers, baseline, images: str, labels: str,
                         reports_file: str, out: str, device: str, log: str, controls: bool = True,
                         side_by_side: bool = False) -> dict:
    """Predict ``images`` with every run (true/shuffled/no reports; image-only baseline), evaluate against
    ``labels``; returns name -> summary (also table.md and dice.png in ``out``)."""
    from nnunetv2_tmca.evaluation.controls import shuffle_reports
    from nnunetv2_tmca.evaluation.evaluate import evaluate_folders, infer_file_ending
    from nnunetv2_tmca.io_utils import atomic_write_json
    from nnunetv2_tmca.reports import load_reports

    ending = infer_file_ending(labels)
    case_ids = sorted(f[:-len(ending)] for f in os.listdir(labels) if f.endswith(ending))
    reports = load_reports(reports_file)
    shuffled = os.path.join(out, "reports_shuffled.json")
    atomic_write_json(shuffle_reports({c: reports[c] for c in case_ids}, seed=0), shuffled)
    common = ["-i", images, "-d", str(dataset_id), "-c", config, "-f", "0", "-device", device, "-npp", "0", "-nps",
              "0", "--disable_progress_bar"]
    runs = prediction_runs(trainers, baseline, reports_file, shuffled, os.path.join(out, "predictions"), controls)
    step(f"predicting {len(case_ids)} cases: {len(runs)} runs (true, shuffled, no reports; image-only baseline)")
    jobs = []
    for name, cmd in runs.items():
        target = cmd[cmd.index("-o") + 1]
        if _predictions_up_to_date(target, ending, len(case_ids), env, dataset_id, cmd[cmd.index("-tr") + 1],
                                   config):
            print(f"    {name}: already predicted")
            continue
        jobs.append((name, cmd + common, env, None))
    run_jobs(jobs, log, cores_for_side_by_side(device) if side_by_side else [])
    step("evaluating")
    return {name: evaluate_folders(labels, cmd[cmd.index("-o") + 1]) for name, cmd in runs.items()}


def plot_dice(summaries: dict, path: str, title: str = ""):
    """Horizontal bars of per-image and global Dice per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    per_image = [100 * (summaries[n]["per_image_mean"]["Dice"] or 0) for n in names]
    pooled = [100 * (summaries[n]["global"]["Dice"] or 0) for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], per_image, height=0.4, label="per-image Dice")
    ax.barh([i - 0.2 for i in y], pooled, height=0.4, label="global Dice")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("Dice (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


