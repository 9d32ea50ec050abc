"""A 3D synthetic report-guided dataset trains, validates and predicts end to end through the stock CLIs."""
import glob
import json
import os

import pytest

from helpers import clean_env, run


@pytest.mark.slow
def test_3d_train_validate_predict(tmp_path):
    from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset
    folder = make_synthetic_dataset(str(tmp_path / "raw"), 996, num_train=8, num_test=2, size=24, dim=3, seed=5)
    env = clean_env(tmp_path)
    run(["nnUNetv2_plan_and_preprocess", "-d", "996", "-c", "3d_fullres", "-np", "1", "-npfp", "1"], env)
    run(["nnUNetv2_train", "996", "3d_fullres", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"],
        clean_env(tmp_path, nnUNet_n_proc_DA="0"))
    model = tmp_path / "res" / "Dataset996_TMCASynthetic" / "nnUNetTrainerTMCA_debug__nnUNetPlans__3d_fullres"
    summary = json.load(open(model / "fold_0" / "validation" / "summary.json"))
    assert summary["metric_per_case"] and "Dice" in summary["foreground_mean"]
    plans = json.load(open(model / "plans.json"))
    assert plans["configurations"]["3d_fullres"]["tmca"]["text_dim"] == 384
    out = tmp_path / "pred"
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), "-d", "996", "-c",
         "3d_fullres", "-f", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu", "-npp", "0", "-nps", "0"], env)
    assert sorted(os.path.basename(f) for f in glob.glob(str(out / "*.nii.gz"))) == \
        ["synthts_0000.nii.gz", "synthts_0001.nii.gz"]
    # the viewer's session on a 3D model: a volume of slices, each slice's layers, the score
    from nnunetv2_tmca.viewer.cli import build_session, parse_args
    session, _ = build_session(parse_args(["-m", str(model), "-f", "0", "-i", os.path.join(folder, "imagesTs"),
                                           "--labels", os.path.join(folder, "labelsTs"), "-device", "cpu"]))
    result = session.segment("synthts_0000", session.reports["synthts_0000"])
    assert result["slices"] == 24 and 0 <= result["slice"] < 24 and result["has_reference"]
    assert result["agreement"]["score"] is not None and result["sentences"]
    for k in (0, 23):
        layers = session.layers("synthts_0000", k)
        assert set(layers) == {"image", "mask", "reference", "map"}
        assert all(v.startswith("data:image/png;base64,") for v in layers.values())
    try:
        session.layers("synthts_0000", 24)
        raise AssertionError("slice 24 of 24 was served")
    except ValueError:
        pass
