"""The real-dataset benchmark script end to end on a tiny QaTa-layout folder the test makes (ProLearn layout)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import clean_env, load_benchmark_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "SECRET-REPORT-TEXT-5e1a"


def make_prolearn_qata(src, n_train=20, n_val=6, size=32):
    """A lesion in the image's left or right half; the report says which side."""
    rng = np.random.default_rng(0)
    ids = [f"covid_{i:04d}" for i in range(n_train + n_val)]
    for sub in ("images", "masks", "reports"):
        os.makedirs(os.path.join(src, sub))
    for i, cid in enumerate(ids):
        side = "left" if i % 2 else "right"
        img = rng.integers(0, 60, (size, size)).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        c0 = 4 if side == "left" else size - 12
        mask[10:18, c0:c0 + 8] = 255
        img[mask > 0] = 200
        Image.fromarray(img).save(os.path.join(src, "images", f"{cid}.png"))
        Image.fromarray(mask).save(os.path.join(src, "masks", f"{cid}.png"))
        with open(os.path.join(src, "reports", f"{cid}.txt"), "w") as f:
            f.write(f"unilateral pulmonary infection, one infected area, middle {side} lung. {SECRET}\n")
    with open(os.path.join(src, "split.json"), "w") as f:
        json.dump({"train": ids[:n_train], "val": ids[n_train:]}, f)
    return ids[n_train:]


@pytest.mark.slow
def test_qata_benchmark_script_converts_trains_predicts_and_tabulates(tmp_path):
    src = tmp_path / "QaTa"
    val_ids = make_prolearn_qata(str(src))
    out = tmp_path / "bench"
    env = clean_env(tmp_path)
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "qata_cov19.py"), "--source", str(src), "--out", str(out),
           "-d", "731", "--size", "0", "--max_cases", "0", "--budget", "debug", "--num_val", "4"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert os.path.isdir(out / "nnUNet_results" / "Dataset731_QaTaCOV19")
    out = out / "benchmark_731"
    assert SECRET not in p.stdout + p.stderr and SECRET not in open(out / "log.txt").read()
    table = open(out / "table.md").read()
    for row in ("nnUNetTrainerTMCA_debug, true reports", "nnUNetTrainerTMCA_debug, shuffled reports",
                "nnUNetTrainerTMCA_debug, no report", "nnUNetTrainer_debug (image only)"):
        assert row in table and row in p.stdout
    assert table.count("| 4 |") == 4  # 4 of the 6 validation cases, every run
    evaluated = sorted(f[:-4] for f in os.listdir(out / "val_labels"))
    assert len(evaluated) == 4 and set(evaluated) <= set(val_ids)
    assert os.path.getsize(out / "dice.png") > 1000 and os.listdir(out / "overlays")
    # a second run finds everything done and only re-evaluates
    p2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0 and "already trained" in p2.stdout and "already predicted" in p2.stdout


def test_custom_budget_trainers_are_found_by_nnunet(tmp_path):
    from nnunetv2_tmca.experiments.budgets import write_budget_trainers
    folder = tmp_path / "trainers"
    names = write_budget_trainers(str(folder), ["nnUNetTrainerTMCA_noMirror", "nnUNetTrainer"], 3, 8, 2)
    assert names == ["nnUNetTrainerTMCA_noMirror_e3i8b2", "nnUNetTrainer_e3i8b2"]
    code = ("from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as find\n"
            "from nnunetv2_tmca.training import nnUNetTrainerTMCA_noMirror\n"
            "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer\n"
            "a, b = find('nnUNetTrainerTMCA_noMirror_e3i8b2'), find('nnUNetTrainer_e3i8b2')\n"
            "assert issubclass(a, nnUNetTrainerTMCA_noMirror) and issubclass(b, nnUNetTrainer)\n"
            "assert (a.budget_epochs, a.budget_iterations, a.budget_batch_size) == (3, 8, 2)\n"
            "assert a.text_mirroring == 'off'\n"
            "print('found')\n")
    env = clean_env(tmp_path, nnUNet_extTrainer=str(folder))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "found" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]


def test_training_progress_lines(capsys):
    from nnunetv2_tmca.experiments.runner import EpochProgress
    progress = EpochProgress()
    for line in ["2026-11-29 01:00:00.1: Epoch 0", "2026-11-29 01:00:00.2: train_loss -0.2",
                 "2026-11-29 01:00:09.0: Pseudo dice [np.float32(0.6359), np.float32(0.5)]",
                 "2026-11-29 01:00:09.1: Epoch time: 8.85 s", "2026-11-29 01:00:10.0: Epoch 1",
                 "2026-11-29 01:00:19.0: Pseudo dice [np.float32(0.7)]", "2026-11-29 01:00:19.1: Epoch time: 9.1 s",
                 "2026-11-29 01:00:30.0: Mean Validation Dice:  0.5655732095972528"]:
        progress(line + "\n")
    assert capsys.readouterr().out.splitlines() == [
        "      epoch 0: pseudo Dice 0.636 0.500, 8.85 s", "      epoch 1: pseudo Dice 0.700, 9.1 s",
        "      fold-0 validation Dice 0.566"]


def test_predictions_of_a_retrained_model_are_not_reused(tmp_path):
    from nnunetv2_tmca.experiments.comparison import _predictions_up_to_date
    results = tmp_path / "results"
    fold = results / "Dataset992_X" / "nnUNetTrainerTMCA_synth__nnUNetPlans__2d" / "fold_0"
    fold.mkdir(parents=True)
    checkpoint = fold / "checkpoint_final.pth"
    checkpoint.write_bytes(b"0")
    preds = tmp_path / "preds"
    preds.mkdir()
    for i in range(3):
        (preds / f"c{i}.png").write_bytes(b"0")
    env = {"nnUNet_results": str(results)}
    args = (".png", 3, env, 992, "nnUNetTrainerTMCA_synth", "2d")
    os.utime(checkpoint, (1000, 1000))
    assert _predictions_up_to_date(str(preds), *args)
    assert not _predictions_up_to_date(str(preds), ".png", 4, *args[2:])  # a case is missing
    os.utime(checkpoint, (4e9, 4e9))  # trained again after the predictions
    assert not _predictions_up_to_date(str(preds), *args)
    assert not _predictions_up_to_date(str(tmp_path / "none"), *args)


def test_aggregate_runs_mean_sd_and_missing_rows(tmp_path):
    """benchmarks/aggregate_runs.py: mean +- sd (n-1) per row over the runs' tables; a row missing from a run
    counts only the runs that have it; a folder without a table is a clear error."""
    header = "| Run | per-image Dice (%) | global Dice (%) | n |\n|---|---:|---:|---:|\n"
    rows = [("A, true reports", [70.0, 74.0, 72.0]), ("A, no report", [50.0, 52.0, None])]
    for k in range(3):
        folder = tmp_path / f"run{k}" / "benchmark_1"
        folder.mkdir(parents=True)
        lines = [f"| {name} | {v[k]:.2f} | **{v[k] + 1:.2f}** | 10 |" for name, v in rows if v[k] is not None]
        (folder / "table.md").write_text(header + "\n".join(lines) + "\n")
    aggregate = load_benchmark_script("aggregate_runs").aggregate
    table = aggregate([str(tmp_path / f"run{k}") for k in range(3)], ["per-image Dice (%)", "global Dice (%)"])
    lines = table.splitlines()
    assert lines[2] == "| A, true reports | 72.00 +- 2.00 | 73.00 +- 2.00 | 3 | 70.00, 74.00, 72.00 |"
    assert lines[3] == "| A, no report | 51.00 +- 1.41 | 52.00 +- 1.41 | 2 | 50.00, 52.00 |"
    import pytest
    with pytest.raises(FileNotFoundError, match="no table.md"):
        aggregate([str(tmp_path)] + [str(tmp_path / "missing")], ["per-image Dice (%)"])


def test_paired_runs_scores_each_runs_predictions_against_its_labels(tmp_path):
    """benchmarks/paired_runs.py: per-image Dice per run from the run's own labels, mean +- sd over runs, and the
    paired difference against the first model; runs scoring other cases are an error."""
    def write(folder, masks):
        folder.mkdir(parents=True, exist_ok=True)
        for case, m in masks.items():
            Image.fromarray(m.astype(np.uint8)).save(folder / f"{case}.png")

    square = np.zeros((8, 8), np.uint8)
    square[2:6, 2:6] = 1  # 16 pixels
    half = square.copy()
    half[2:4, 2:6] = 0  # 8 of them: Dice 2 * 8 / 24
    labels = {"c1": square, "c2": square}
    runs = {}
    for name, predictions in (("ref1", {"c1": square, "c2": square}), ("ref2", {"c1": square, "c2": half}),
                              ("abl1", {"c1": half, "c2": half})):
        write(tmp_path / name / "benchmark_1" / "val_labels", labels)
        write(tmp_path / name / "benchmark_1" / "predictions" / ("A" if name.startswith("ref") else "B") / "true",
              predictions)
        runs[name] = str(tmp_path / name)
    table = load_benchmark_script("paired_runs").table
    lines = table([("A", [runs["ref1"], runs["ref2"]]), ("B", [runs["abl1"]])]).splitlines()
    h = 100 * 2 * 8 / 24
    ref_runs = [100.0, (100 + h) / 2]
    assert lines[2].startswith(f"| A | true reports | {np.mean(ref_runs):.2f} +- {np.std(ref_runs, ddof=1):.2f} |")
    # per case, run-averaged: A (100, (100 + h) / 2), B (h, h) -> mean difference
    diff = np.mean([h - 100, h - (100 + h) / 2])
    assert lines[3].startswith(f"| B | true reports | {h:.2f} +- 0.00 | {h:.2f} | {diff:+.2f} [")
    assert lines[3].endswith("| 0 % / 100 % |")
    (tmp_path / "abl1" / "benchmark_1" / "predictions" / "B" / "true" / "c2.png").unlink()
    (tmp_path / "abl1" / "benchmark_1" / "val_labels" / "c2.png").unlink()
    import pytest
    with pytest.raises(ValueError, match="different cases"):
        table([("A", [runs["ref1"], runs["ref2"]]), ("B", [runs["abl1"]])])
