"""Tests for nnunetv2_tmca.evaluation (metrics, folder evaluation, text controls)."""
import json
import math
import os
import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from nnunetv2_tmca.evaluation.controls import null_reports, shuffle_report_sources, shuffle_reports
from nnunetv2_tmca.evaluation.evaluate import compare_runs, evaluate_folders, format_summary, main
from nnunetv2_tmca.evaluation.metrics import aggregate, compute_case_metrics, confusion_counts, hd95


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _png(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def _nii(path, arr, spacing_xyz=(1.0, 1.0, 1.0)):
    img = sitk.GetImageFromArray(np.asarray(arr, dtype=np.uint8))
    img.SetSpacing(spacing_xyz)
    sitk.WriteImage(img, path)


def _square(shape, r0, r1, c0, c1, value=1):
    a = np.zeros(shape, dtype=np.uint8)
    a[r0:r1, c0:c1] = value
    return a


REF_4x4 = np.array([[1, 1, 0, 0],
                    [1, 1, 0, 0],
                    [0, 0, 0, 0],
                    [0, 0, 0, 0]])
PRED_4x4 = np.array([[0, 1, 1, 0],
                     [0, 1, 1, 0],
                     [0, 0, 0, 0],
                     [0, 0, 0, 0]])


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------
def test_hand_computed_4x4():
    assert confusion_counts(REF_4x4 > 0, PRED_4x4 > 0) == (2, 2, 2)
    m = compute_case_metrics(REF_4x4, PRED_4x4)
    assert (m["TP"], m["FP"], m["FN"], m["n_ref"], m["n_pred"]) == (2, 2, 2, 4, 4)
    assert m["Dice"] == pytest.approx(0.5)      # 2*2 / (2*2 + 2 + 2)
    assert m["IoU"] == pytest.approx(1 / 3)     # 2 / (2 + 2 + 2)
    assert m["HD95"] is None                    # not requested

    # prediction: 1 px inside the reference + 3 px outside
    pred = np.zeros((4, 4), int)
    pred[0, 0] = 1
    pred[3, 1:4] = 1
    m = compute_case_metrics(REF_4x4, pred)
    assert (m["TP"], m["FP"], m["FN"]) == (1, 3, 3)
    assert m["Dice"] == pytest.approx(2 / 8)
    assert m["IoU"] == pytest.approx(1 / 7)


def test_labels_selection_and_merge():
    ref = np.array([[1, 1, 2, 2],
                    [0, 0, 2, 2]])
    pred = np.array([[1, 2, 2, 0],
                     [0, 0, 2, 2]])
    merged = compute_case_metrics(ref, pred)                 # all foreground merged
    assert (merged["TP"], merged["FP"], merged["FN"]) == (5, 0, 1)
    only2 = compute_case_metrics(ref, pred, labels=[2])
    assert (only2["TP"], only2["FP"], only2["FN"]) == (3, 1, 1)
    assert only2["Dice"] == pytest.approx(6 / 8)
    both = compute_case_metrics(ref, pred, labels=[1, 2])
    assert (both["TP"], both["FP"], both["FN"]) == (5, 0, 1)


def test_empty_conventions():
    z = np.zeros((4, 4), int)
    m = compute_case_metrics(z, z, compute_hd95=True)
    assert m["Dice"] == 1.0 and m["IoU"] == 1.0 and m["both_empty"]
    assert math.isnan(m["HD95"])
    m = compute_case_metrics(z, z, empty_value=float("nan"))
    assert math.isnan(m["Dice"]) and math.isnan(m["IoU"])
    m = compute_case_metrics(z, z, empty_value=0.0)
    assert m["Dice"] == 0.0
    # exactly one side empty: 0, HD95 undefined
    m = compute_case_metrics(REF_4x4, z, compute_hd95=True)
    assert m["Dice"] == 0.0 and m["IoU"] == 0.0 and not m["both_empty"] and math.isnan(m["HD95"])
    m = compute_case_metrics(z, PRED_4x4, compute_hd95=True)
    assert m["Dice"] == 0.0 and math.isnan(m["HD95"])


def test_global_vs_per_image():
    big_ref = _square((20, 20), 0, 10, 0, 10)          # 100 px, predicted perfectly
    small_ref = _square((20, 20), 5, 6, 5, 6)          # 1 px, missed
    cases = [compute_case_metrics(big_ref, big_ref), compute_case_metrics(small_ref, np.zeros_like(small_ref))]
    agg = aggregate(cases)
    assert agg["per_image_mean"]["Dice"] == pytest.approx(0.5)
    assert agg["per_image_std"]["Dice"] == pytest.approx(0.5)
    assert agg["global"]["Dice"] == pytest.approx(200 / 201)   # TP=100, FP=0, FN=1
    assert agg["global"]["IoU"] == pytest.approx(100 / 101)
    assert (agg["global"]["TP"], agg["global"]["FP"], agg["global"]["FN"]) == (100, 0, 1)
    assert agg["n_both_empty"] == 0 and agg["n_cases"] == 2

    # both-empty case: counted as 1 (default) or skipped (NaN) in the per-image mean; global unchanged
    z = np.zeros((20, 20), np.uint8)
    with_empty = cases + [compute_case_metrics(z, z)]
    agg1 = aggregate(with_empty)
    assert agg1["per_image_mean"]["Dice"] == pytest.approx(2 / 3)
    assert agg1["n_both_empty"] == 1
    assert agg1["global"]["Dice"] == pytest.approx(200 / 201)
    nan_cases = cases + [compute_case_metrics(z, z, empty_value=float("nan"))]
    agg2 = aggregate(nan_cases, empty_value=float("nan"))
    assert agg2["per_image_mean"]["Dice"] == pytest.approx(0.5)
    assert agg2["n_both_empty"] == 1
    # all cases empty: global uses empty_value as well
    assert aggregate([compute_case_metrics(z, z)])["global"]["Dice"] == 1.0


def test_hd95_shifted_squares_with_spacing():
    ref = _square((30, 30), 5, 15, 3, 13)
    pred_x = _square((30, 30), 5, 15, 6, 16)            # shifted by 3 along axis 1
    pred_y = _square((30, 30), 9, 19, 3, 13)            # shifted by 4 along axis 0
    assert hd95(ref, pred_x) == pytest.approx(3.0)
    assert hd95(ref, pred_x, spacing=(2.0, 0.5)) == pytest.approx(1.5)
    assert hd95(ref, pred_y, spacing=(2.0, 0.5)) == pytest.approx(8.0)
    assert hd95(ref, ref, spacing=(2.0, 0.5)) == 0.0
    # nnU-Net's 2D layout (1, y, x) with the fake z spacing 999 gives the same value
    assert hd95(ref[None], pred_x[None], spacing=(999, 2.0, 0.5)) == pytest.approx(1.5)


# ------------------------------------------------------------------------------------------------
# folders
# ------------------------------------------------------------------------------------------------
def _png_folders(tmp_path):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir()
    pred.mkdir()
    _png(ref / "case_a.png", REF_4x4 * 255)
    _png(pred / "case_a.png", PRED_4x4 * 255)             # Dice 0.5
    _png(ref / "case_b.png", np.zeros((4, 4)))
    _png(pred / "case_b.png", np.zeros((4, 4)))           # both empty
    _png(ref / "case_c.png", REF_4x4 * 255)
    _png(pred / "case_c.png", REF_4x4 * 255)              # Dice 1
    return str(ref), str(pred)


def test_png_folder_summary_json(tmp_path):
    ref, pred = _png_folders(tmp_path)
    res = evaluate_folders(ref, pred, hd95=True)
    assert res["n_cases"] == 3 and res["n_both_empty"] == 1 and res["n_missing"] == 0
    assert res["file_ending"] == ".png"
    by_case = {c["case"]: c for c in res["per_case"]}
    assert set(by_case) == {"case_a", "case_b", "case_c"}
    assert by_case["case_a"]["Dice"] == pytest.approx(0.5)
    assert (by_case["case_a"]["TP"], by_case["case_a"]["FP"], by_case["case_a"]["FN"]) == (2, 2, 2)
    assert by_case["case_b"]["Dice"] == 1.0 and by_case["case_b"]["HD95"] is None
    assert by_case["case_c"]["HD95"] == 0.0
    assert by_case["case_a"]["prediction_file"] == os.path.join(pred, "case_a.png")
    assert res["per_image_mean"]["Dice"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert res["global"]["Dice"] == pytest.approx((2 * 6) / (2 * 6 + 2 + 2))
    # summary written atomically to the default place and equal to the returned dict
    out = os.path.join(pred, "summary_tmca.json")
    with open(out) as f:
        assert json.load(f) == res
    assert not [f for f in os.listdir(pred) if f.endswith(".tmp")]
    table = format_summary(res)
    assert "both empty: 1" in table and "Dice = IoU = 1" in table and "HD95 median" in table

    # NaN convention: both-empty case skipped in the per-image mean, written as null
    out2 = str(tmp_path / "nan.json")
    res2 = evaluate_folders(ref, pred, empty_value=float("nan"), output_file=out2)
    assert res2["per_image_mean"]["Dice"] == pytest.approx(0.75)
    assert res2["empty_value"] is None
    with open(out2) as f:
        assert json.load(f) == res2


def test_missing_prediction(tmp_path):
    ref, pred = _png_folders(tmp_path)
    os.remove(os.path.join(pred, "case_c.png"))
    with pytest.raises(FileNotFoundError, match="case_c.png"):
        evaluate_folders(ref, pred)
    res = evaluate_folders(ref, pred, allow_missing=True)
    assert res["n_missing"] == 1 and res["missing_cases"] == ["case_c"]
    c = [x for x in res["per_case"] if x["case"] == "case_c"][0]
    assert c["prediction_file"] is None and c["missing_prediction"]
    assert c["Dice"] == 0.0 and c["n_pred"] == 0 and c["FN"] == 4
    assert res["n_cases"] == 3
    # CLI: clear error without --allow_missing, table with it
    assert main(["-ref", ref, "-pred", pred]) == 1
    assert main(["-ref", ref, "-pred", pred, "--allow_missing", "-o", str(tmp_path / "s.json")]) == 0
    assert os.path.isfile(tmp_path / "s.json")


def test_nifti_folder_hd95_spacing_labels_and_cli(tmp_path, capsys):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir()
    pred.mkdir()
    r = np.zeros((6, 20, 20), np.uint8)
    r[1:5, 4:14, 4:14] = 1
    r[0, 0, 0] = 2                         # label 2 only in the reference
    p = np.zeros_like(r)
    p[1:5, 4:14, 6:16] = 1                  # shifted by 2 voxels along x
    spacing_xyz = (0.5, 1.0, 3.0)           # SimpleITK order (x, y, z)
    _nii(str(ref / "vol1.nii.gz"), r, spacing_xyz)
    _nii(str(pred / "vol1.nii.gz"), p, spacing_xyz)
    _nii(str(ref / "vol2.nii.gz"), r, spacing_xyz)
    _nii(str(pred / "vol2.nii.gz"), r, spacing_xyz)
    res = evaluate_folders(str(ref), str(pred), labels=[1], hd95=True)
    by_case = {c["case"]: c for c in res["per_case"]}
    assert res["file_ending"] == ".nii.gz"
    assert by_case["vol1"]["HD95"] == pytest.approx(2 * 0.5)
    assert by_case["vol2"]["HD95"] == 0.0 and by_case["vol2"]["Dice"] == 1.0
    assert by_case["vol1"]["TP"] == 4 * 10 * 8 and by_case["vol1"]["FP"] == 4 * 10 * 2
    assert res["HD95_median"] == pytest.approx(0.5) and res["n_hd95"] == 2
    assert res["labels"] == [1]
    # merged labels: the extra label-2 voxel is a false negative in vol1
    res_all = evaluate_folders(str(ref), str(pred))
    assert {c["case"]: c for c in res_all["per_case"]}["vol1"]["FN"] == 4 * 10 * 2 + 1

    out = str(tmp_path / "cli.json")
    assert main(["-ref", str(ref), "-pred", str(pred), "-o", out, "-l", "1", "--hd95", "-np", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| per-image Dice (%, mean ± std) |" in printed and "global Dice (%)" in printed
    assert "HD95 median" in printed
    with open(out) as f:
        cli = json.load(f)
    assert cli["per_case"] == res["per_case"]


def test_compare_runs_formatting(tmp_path):
    s1 = {"per_image_mean": {"Dice": 0.81234, "IoU": 0.70001}, "global": {"Dice": 0.9, "IoU": 0.818181}, "n_cases": 10}
    s2 = {"per_image_mean": {"Dice": 0.5, "IoU": None}, "global": {"Dice": 0.123456, "IoU": 0.05}, "n_cases": 10}
    path = tmp_path / "s2.json"
    path.write_text(json.dumps(s2))
    table = compare_runs({"TMCA, true reports": s1, "TMCA, shuffled": str(path)})
    lines = table.splitlines()
    assert lines[0] == "| Run | per-image Dice (%) | global Dice (%) | per-image IoU (%) | global IoU (%) | n |"
    assert lines[1] == "|---|---:|---:|---:|---:|---:|"
    assert lines[2] == "| TMCA, true reports | 81.23 | 90.00 | 70.00 | 81.82 | 10 |"
    assert lines[3] == "| TMCA, shuffled | 50.00 | 12.35 | n/a | 5.00 | 10 |"
    assert len(lines) == 4


# ------------------------------------------------------------------------------------------------
# text controls
# ------------------------------------------------------------------------------------------------
def _reports(n=40, n_texts=8):
    return {f"case_{i:03d}": f"secret finding {i % n_texts}" for i in range(n)}


def test_shuffle_reports_deterministic_derangement():
    reports = _reports()
    a = shuffle_report_sources(reports, seed=0)
    assert set(a) == set(reports) and sorted(a.values()) == sorted(reports)       # a permutation
    assert all(src != case for case, src in a.items())                            # a derangement
    reversed_order = dict(reversed(list(reports.items())))
    assert shuffle_report_sources(reversed_order, seed=0) == a                    # order independent
    assert shuffle_report_sources(reports, seed=0) == a                           # deterministic
    assert shuffle_report_sources(reports, seed=1) != a
    shuffled = shuffle_reports(reports, seed=0)
    assert shuffled == {c: reports[s] for c, s in a.items()}
    assert sorted(shuffled.values()) == sorted(reports.values())
    assert all(shuffled[c] != reports[c] for c in reports)                        # all texts differ here


def test_shuffle_reports_duplicates_and_edge_cases():
    # one text shared by 6 of 10 cases: at least 2 must keep an identical text, the rest differ
    reports = {f"c{i}": ("same" if i < 6 else f"other {i}") for i in range(10)}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = shuffle_reports(reports, seed=3)
    n_same = sum(out[c] == reports[c] for c in reports)
    assert n_same == 2
    assert w and all("same" not in str(x.message) and "other" not in str(x.message) for x in w)

    equal = {"a": "t", "b": "t", "c": "t"}
    with pytest.warns(UserWarning, match="identical"):
        assert shuffle_reports(equal) == equal
    with pytest.raises(ValueError):
        shuffle_reports({"only": "x"})
    assert shuffle_reports({}) == {}
    two = shuffle_reports({"a": "x", "b": "y"})
    assert two == {"a": "y", "b": "x"}
    assert null_reports(["a", "b"]) == {"a": None, "b": None}


# ---------------------------------------------------------------------------- paired seeded comparison
def test_paired_bootstrap_difference_and_interval():
    from nnunetv2_tmca.evaluation.paired import paired_bootstrap, run_means

    rng = np.random.default_rng(1)
    cases = [f"c{i}" for i in range(40)]
    base = {c: float(v) for c, v in zip(cases, rng.uniform(40, 90, len(cases)))}
    reference = [{c: base[c] + rng.normal(0, 1) for c in cases} for _ in range(3)]
    better = [{c: base[c] + 5 + rng.normal(0, 1) for c in cases} for _ in range(3)]
    p = paired_bootstrap(better, reference)
    assert p["n_cases"] == 40 and 4.0 < p["mean"] < 6.0 and p["low"] < p["mean"] < p["high"]
    assert p["low"] > 3.0 and p["high"] < 7.0  # paired: the large case-to-case spread cancels
    same = paired_bootstrap(reference, reference)
    assert same["mean"] == 0.0 and same["low"] == 0.0 and same["high"] == 0.0
    assert run_means(reference) == [pytest.approx(np.mean(list(r.values()))) for r in reference]


def test_paired_bootstrap_refuses_other_cases():
    from nnunetv2_tmca.evaluation.paired import paired_bootstrap

    with pytest.raises(ValueError, match="different cases"):
        paired_bootstrap([{"a": 1.0, "b": 2.0}], [{"a": 1.0, "c": 2.0}])
    with pytest.raises(ValueError, match="run 2"):
        paired_bootstrap([{"a": 1.0}, {"b": 1.0}], [{"a": 1.0}, {"a": 1.0}])
