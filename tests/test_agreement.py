"""The report-image agreement score: signals, score and flags, edits of a report, and agreement.json end to end."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import DATASET_ID, clean_env, run
from nnunetv2_tmca.evaluation.controls import edit_report
from nnunetv2_tmca.evaluation.evaluate import lowest_scores
from nnunetv2_tmca.inference.agreement import (
    agreement_score,
    agreement_signals,
    auroc,
    case_agreement,
    foreground_probability,
)

PREDICT = ["-d", str(DATASET_ID), "-c", "2d", "-f", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"]
MARKER = "Zqxvwk marker sentence."  # appended to every report: must never appear in outputs or logs


def disc(shape, centre, radius, value=1.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return torch.from_numpy(np.where((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2, value, 0.0))


# ------------------------------------------------------------------------------------------ unit
def test_report_mask_on_the_image_finding_scores_high_and_elsewhere_low():
    image_only = disc((40, 40), (10, 10), 5) + disc((40, 40), (30, 30), 5)  # the image shows two findings
    on_finding = disc((40, 40), (10, 10), 5)  # the report picks one of them
    elsewhere = disc((40, 40), (10, 30), 5)  # the report's mask lies where the image shows nothing
    good, bad = case_agreement(on_finding, image_only), case_agreement(elsewhere, image_only)
    assert case_agreement(image_only, image_only)["score"] > 0.99  # the report selects what the image shows
    assert 0.6 < good["score"] < 0.8 and bad["score"] < 0.1  # half of the image's findings: sqrt(1 * 0.5)
    assert "mask-where-image-shows-nothing" in bad["flags"] and "mask-where-image-shows-nothing" not in good["flags"]
    assert "image-finding-not-in-report" in bad["flags"]


def test_empty_mask_and_unused_report_flags():
    finding = disc((32, 32), (16, 16), 6)
    empty = torch.zeros(32, 32, dtype=torch.float64)
    score, flags = agreement_score(agreement_signals(empty, finding))
    assert score == 0.0 and "report-names-target-mask-empty" in flags
    score, flags = agreement_score(agreement_signals(empty, empty))  # nothing with or without the report: agree
    assert score == 1.0 and "report-changes-nothing" not in flags
    score, flags = agreement_score(agreement_signals(finding, finding))
    assert score == pytest.approx(1.0) and "report-changes-nothing" in flags


def test_uncertain_mask_lowers_the_score():
    sure, unsure = disc((32, 32), (16, 16), 6), disc((32, 32), (16, 16), 6, value=0.55)
    a, b = case_agreement(sure, sure), case_agreement(unsure, sure)
    assert b["score"] < a["score"] and "uncertain-mask" in b["flags"]
    assert 0.0 <= b["score"] <= 1.0


def test_foreground_probability_softmax_and_regions():
    logits = torch.tensor([[[3.0, -3.0]], [[-3.0, 3.0]]])  # (C=2, 1, 2): background, foreground
    p = foreground_probability(logits, has_regions=False)
    assert p.shape == (1, 2) and p[0, 0] < 0.01 and p[0, 1] > 0.99
    r = foreground_probability(torch.tensor([[[-5.0, 5.0]], [[5.0, -5.0]]]), has_regions=True)
    assert bool((r > 0.99).all())


def test_records_hold_indices_never_text_and_lowest_scores_sort():
    rec = case_agreement(disc((16, 16), (8, 8), 3), disc((16, 16), (8, 8), 3), relevance=[0.7, 0.3])
    assert [s["index"] for s in rec["sentences"]] == [0, 1] and set(rec["sentences"][0]) == {"index", "relevance",
                                                                                                "effect"}
    records = {"a": {"score": 0.9, "flags": []}, "b": {"score": 0.1, "flags": ["x"]}, "c": {"score": None}}
    assert [c for c, _ in lowest_scores(records, 5)] == ["b", "a"]


def test_auroc():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5


def test_edit_report_kinds():
    report = "There is a nodule in the left upper zone. No nodule in the right lower zone. The heart is normal."
    assert "right upper" in edit_report(report, "swap_sides")
    assert "left lower" in edit_report(report, "swap_zones")
    deleted = edit_report(report, "delete_target", r"\bnodul")
    assert "left upper" not in deleted and "No nodule in the right lower zone." in deleted  # negations stay
    assert edit_report("The heart is normal.", "swap_sides") is None  # nothing to change
    assert edit_report(report, "delete_target") is None  # no target words given
    with pytest.raises(ValueError, match="unknown edit"):
        edit_report(report, "typo")


# ------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def marked(trained_tiny_model, tmp_path_factory):
    root, folder, model, _ = trained_tiny_model
    reports = json.load(open(os.path.join(folder, "reports.json")))
    path = tmp_path_factory.mktemp("marked") / "reports.json"
    path.write_text(json.dumps({c: r + " " + MARKER for c, r in reports.items()}))
    return root, folder, model, str(path)


def _cases(folder):
    return sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))


@pytest.mark.parametrize("processes", ["0", "1"])
def test_predict_writes_agreement_json_for_every_case(marked, tmp_path, processes):
    root, folder, model, reports = marked
    env = clean_env(root)
    images = os.path.join(folder, "imagesTs")
    plain, scored = tmp_path / "plain", tmp_path / "scored"
    run(["nnUNetv2_predict_tmca", "-i", images, "-o", str(plain), *PREDICT, "-npp", "0", "-nps", "0",
         "--reports", reports], env)
    p = run(["nnUNetv2_predict_tmca", "-i", images, "-o", str(scored), *PREDICT, "-npp", processes, "-nps",
             processes, "--reports", reports, "--agreement"], env)
    text = (scored / "agreement.json").read_text()
    records = json.loads(text)
    assert sorted(records) == _cases(folder)
    for case, r in records.items():
        assert 0.0 <= r["score"] <= 1.0, case
        assert isinstance(r["flags"], list) and all(isinstance(f, str) for f in r["flags"])
        assert r["sentences"] and all(set(s) == {"index", "relevance", "effect"} for s in r["sentences"])
        assert sum(s["relevance"] for s in r["sentences"]) == pytest.approx(1.0, abs=1e-3)
    assert "Zqxvwk" not in text and "Zqxvwk" not in p.stdout + p.stderr  # report text never in outputs or logs
    assert f"agreement scores of {len(records)} cases" in p.stdout
    for f in sorted(os.listdir(plain)):  # the extra pass does not change the predictions
        if f.endswith(".png"):
            assert np.array_equal(np.asarray(Image.open(plain / f)), np.asarray(Image.open(scored / f))), f


def test_continue_merges_and_evaluate_lists_lowest(marked, tmp_path):
    root, folder, model, reports = marked
    env = clean_env(root)
    cases = _cases(folder)
    first = tmp_path / "first"
    first.mkdir()
    os.symlink(os.path.join(folder, "imagesTs", cases[0] + "_0000.png"), first / (cases[0] + "_0000.png"))
    out = tmp_path / "out"
    run(["nnUNetv2_predict_tmca", "-i", str(first), "-o", str(out), *PREDICT, "-npp", "0", "-nps", "0",
         "--reports", reports, "--agreement"], env)
    before = json.loads((out / "agreement.json").read_text())
    assert sorted(before) == cases[:1]
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), *PREDICT, "-npp", "0",
         "-nps", "0", "--reports", reports, "--agreement", "--continue_prediction"], env)
    after = json.loads((out / "agreement.json").read_text())
    assert sorted(after) == cases and after[cases[0]] == before[cases[0]]  # the earlier case's record is kept
    p = run(["nnUNetv2_tmca_evaluate", "-ref", os.path.join(folder, "labelsTs"), "-pred", str(out)], env)
    line = next(s for s in p.stdout.splitlines() if s.startswith("Lowest report-image agreement"))
    lowest = min(after, key=lambda c: (after[c]["score"], c))
    assert lowest in line and "Dice" in line and "Zqxvwk" not in p.stdout


def test_agreement_needs_reports_and_never_overwrites_an_unreadable_file(marked, tmp_path):
    root, folder, model, reports = marked
    env = clean_env(root)
    p = subprocess.run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(tmp_path / "o"),
                        *PREDICT, "--no_text", "--agreement"], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "--agreement" in p.stderr and "--no_text" in p.stderr
    out = tmp_path / "broken"
    out.mkdir()
    (out / "agreement.json").write_text("{not json")
    p = subprocess.run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), *PREDICT,
                        "-npp", "0", "-nps", "0", "--reports", reports, "--agreement"], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 1 and str(out / "agreement.json") in p.stderr
    assert (out / "agreement.json").read_text() == "{not json"


def test_python_api_collects_records(marked):
    root, folder, model, reports = marked
    os.environ.update(clean_env(root))
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    texts = json.load(open(reports))
    case = _cases(folder)[0]
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False, agreement=True)
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    img, props = NaturalImage2DIO().read_images([os.path.join(folder, "imagesTs", case + "_0000.png")])
    plain = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False)
    plain.initialize_from_trained_model_folder(str(model), (0,))
    seg = predictor.predict_single_npy_array(img, props, report=texts[case])
    assert np.array_equal(seg, plain.predict_single_npy_array(img, props, report=texts[case]))
    record = predictor.last_agreement
    assert 0.0 <= record["score"] <= 1.0 and len(record["sentences"]) == len(predictor.report_sentences(texts[case]))
    predictor.predict_single_npy_array(img, props, report=None)
    assert predictor.last_agreement["score"] is None and predictor.last_agreement["flags"] == ["no-report"]
