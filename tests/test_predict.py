"""nnUNetv2_predict_tmca and nnUNetPredictorTMCA on a tiny trained TMCA model."""
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from helpers import DATASET_ID, clean_env, run

PREDICT = ["-d", str(DATASET_ID), "-c", "2d", "-f", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"]


def pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


def read(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def predictions(trained_tiny_model, tmp_path_factory):
    root, folder, model, _ = trained_tiny_model
    out = tmp_path_factory.mktemp("pred")
    env = clean_env(root)
    images_ts = os.path.join(folder, "imagesTs")
    seq, par, stock = out / "seq", out / "par", out / "stock"
    run(["nnUNetv2_predict_tmca", "-i", images_ts, "-o", str(seq), *PREDICT, "-npp", "0", "-nps", "0",
         "--save_probabilities"], env)
    run(["nnUNetv2_predict_tmca", "-i", images_ts, "-o", str(par), *PREDICT, "-npp", "1", "-nps", "1",
         "--save_probabilities"], env)
    p = run(["nnUNetv2_predict", "-i", images_ts, "-o", str(stock), *PREDICT, "-npp", "0", "-nps", "0"], env)
    return root, folder, model, seq, par, stock, p.stdout + p.stderr


def test_outputs_have_nnunet_layout_and_both_paths_agree(predictions):
    root, folder, model, seq, par, stock, _ = predictions
    case_ids = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))
    assert pngs(seq) == pngs(par) == pngs(stock) == [c + ".png" for c in case_ids]
    for f in ("dataset.json", "plans.json", "predict_from_raw_data_args.json"):
        assert os.path.isfile(seq / f) and os.path.isfile(stock / f)
    assert sorted(f for f in os.listdir(seq) if f.endswith(".npz")) == [c + ".npz" for c in case_ids]
    for f in pngs(seq):
        assert read(seq / f).shape == read(os.path.join(folder, "imagesTs", f[:-4] + "_0000.png")).shape
        assert np.array_equal(read(seq / f), read(par / f))
        a, b = np.load(seq / (f[:-4] + ".npz"))["probabilities"], np.load(par / (f[:-4] + ".npz"))["probabilities"]
        assert np.allclose(a, b, atol=1e-5)


def test_stock_predict_warns_that_reports_are_ignored(predictions):
    output = predictions[-1]
    assert "without a report" in output and "nnUNetv2_predict_tmca" in output


def test_predictions_equal_the_trainers_validation_outputs(predictions, tmp_path):
    root, folder, model, *_ = predictions
    splits = json.load(open(root / "pre" / f"Dataset{DATASET_ID}_TMCASynthetic" / "splits_final.json"))
    val = splits[0]["val"]
    inp = tmp_path / "in"
    inp.mkdir()
    for c in val:
        os.symlink(os.path.join(folder, "imagesTr", c + "_0000.png"), inp / (c + "_0000.png"))
    out = tmp_path / "out"
    run(["nnUNetv2_predict_tmca", "-i", str(inp), "-o", str(out), *PREDICT, "-npp", "0", "-nps", "0",
         "--reports", os.path.join(folder, "reports.json")], clean_env(root))
    for c in val:
        assert np.array_equal(read(out / (c + ".png")), read(model / "fold_0" / "validation" / (c + ".png"))), c


def test_reports_change_the_prediction(predictions, tmp_path):
    """A counterfactual pair: the same images with other reports give other probabilities; the same reports do not."""
    root, folder, model, seq, *_ = predictions
    reports = json.load(open(os.path.join(folder, "reports.json")))
    ts = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))
    swapped = dict(reports)
    for a, b in zip(ts, ts[1:] + ts[:1]):
        swapped[a] = reports[b]
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(swapped))
    out = tmp_path / "swapped"
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), *PREDICT, "-npp", "0",
         "-nps", "0", "--save_probabilities", "--reports", str(path)], clean_env(root))
    diffs = [np.abs(np.load(out / (c + ".npz"))["probabilities"] - np.load(seq / (c + ".npz"))["probabilities"]).max()
             for c in ts if swapped[c] != reports[c]]
    assert diffs and min(diffs) > 1e-4


def test_missing_reports_are_an_error_unless_allowed(predictions, tmp_path):
    root, folder, model, *_ = predictions
    reports = json.load(open(os.path.join(folder, "reports.json")))
    ts = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))
    partial = {k: v for k, v in reports.items() if k != ts[0]}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    cmd = ["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(tmp_path / "o"), *PREDICT,
           "-npp", "0", "-nps", "0", "--reports", str(path)]
    p = subprocess.run(cmd, env=clean_env(root), capture_output=True, text=True)
    assert p.returncode != 0 and ts[0] in p.stderr and str(path) in p.stderr
    assert not os.path.exists(tmp_path / "o" / (ts[0] + ".png"))
    p = run(cmd + ["--allow_missing_reports"], clean_env(root))
    assert "no report" in p.stdout and ts[0] in p.stdout
    assert len(pngs(tmp_path / "o")) == len(ts)
    # image-only through the learned null text needs no reports at all
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(tmp_path / "nt"), *PREDICT,
         "-npp", "0", "-nps", "0", "--no_text"], clean_env(root))
    assert len(pngs(tmp_path / "nt")) == len(ts)
    # a missing checkpoint names the file
    p = subprocess.run(cmd[:-2] + ["-f", "3"], env=clean_env(root), capture_output=True, text=True)
    assert p.returncode != 0 and "fold_3" in p.stderr


def test_python_api_single_array_with_and_without_report(predictions):
    root, folder, model, seq, *_ = predictions
    os.environ.update(clean_env(root))
    import torch
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    reports = json.load(open(os.path.join(folder, "reports.json")))
    case = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))[0]
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    img, props = NaturalImage2DIO().read_images([os.path.join(folder, "imagesTs", case + "_0000.png")])
    seg = predictor.predict_single_npy_array(img, props, report=reports[case])
    assert np.array_equal(seg[0], read(seq / (case + ".png")))
    seg_null, probs_null = predictor.predict_single_npy_array(img, props, report=None,
                                                              save_or_return_probabilities=True)
    _, probs = predictor.predict_single_npy_array(img, props, report=reports[case], save_or_return_probabilities=True)
    assert not np.allclose(probs, probs_null)


def test_modelfolder_cli_and_list_of_arrays_api(predictions, tmp_path):
    root, folder, model, seq, *_ = predictions
    out = tmp_path / "mf"
    run(["nnUNetv2_predict_tmca_from_modelfolder", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), "-m",
         str(model), "-f", "0", "-device", "cpu", "-npp", "0", "-nps", "0"], clean_env(root))
    for f in pngs(seq):
        assert np.array_equal(read(out / f), read(seq / f))
    os.environ.update(clean_env(root))
    import torch
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    reports = json.load(open(os.path.join(folder, "reports.json")))
    cases = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))[:2]
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    images, props = zip(*[NaturalImage2DIO().read_images([os.path.join(folder, "imagesTs", c + "_0000.png")])
                          for c in cases])
    segs = predictor.predict_from_list_of_npy_arrays(list(images), None, list(props), None, num_processes=1,
                                                     num_processes_segmentation_export=1,
                                                     reports=[reports[c] for c in cases])
    for c, s in zip(cases, segs):
        assert np.array_equal(s[0], read(seq / (c + ".png")))
