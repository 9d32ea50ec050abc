"""Text-consistent mirroring: which report words a flip trades, loader flags, trainer keys, paired TTA."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.remove_label import RemoveLabelTansform
from nnunetv2.utilities.label_handling.label_handling import LabelManager

from helpers import DATASET_ID, DATASET_NAME, clean_env, run
from nnunetv2_tmca.mirroring.axes import ReportAxes, nonempty_subsets
from nnunetv2_tmca.mirroring.keys import mirrored_key, with_mirrored_reports
from nnunetv2_tmca.mirroring.recording import MirrorFlagDataLoader, mirror_flag_data_loaders
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA

PNG = {"file_ending": ".png", "tmca": {"report_axes": {"left_right": 1, "upper_lower": 0}}}
NII_X_ONLY = {"file_ending": ".nii.gz", "tmca": {"report_axes": {"left_right": 2}}}


def test_word_groups_of_patch_axes_2d_3d_and_transposed():
    groups = lambda *args: ReportAxes.from_dataset(*args).word_groups  # noqa: E731
    assert groups(PNG, [0, 1, 2], 2) == {1: "left_right", 0: "upper_lower"}
    assert groups({"file_ending": ".png"}, [0, 1, 2], 2) is None  # unknown: no mirroring at all
    assert groups(NII_X_ONLY, [0, 1, 2], 3) == {2: "left_right"}
    assert groups(NII_X_ONLY, [2, 0, 1], 3) == {0: "left_right"}  # transposed by the plans
    assert groups(NII_X_ONLY, [0, 1, 2], 2) == {1: "left_right"}  # 2d config of a 3D set
    assert ReportAxes.from_dataset(NII_X_ONLY, [0, 1, 2], 3).text_safe((0, 1, 2)) == (0, 1)
    assert ReportAxes({1: "left_right", 0: "upper_lower"}).groups_for_flip((0, 1)) == ("left_right", "upper_lower")
    assert ReportAxes({1: "left_right"}).groups_for_flip((0,)) == ()
    assert nonempty_subsets((0, 1)) == [(0,), (1,), (0, 1)]
    with pytest.raises(ValueError, match="text_mirroring"):
        ReportAxes(None, "sideways")


def test_flip_texts_only_where_flips_trade_words():
    axes = ReportAxes({1: "left_right"})
    assert axes.flip_texts((0, 1), lambda g: g) == {(0,): (), (1,): ("left_right",), (0, 1): ("left_right",)}
    assert ReportAxes({1: "left_right"}, "naive").flip_texts((0, 1), lambda g: g) == {}
    assert ReportAxes(None).flip_texts((0, 1), lambda g: g) == {}
    assert axes.flip_texts(None, lambda g: g) == {}


def test_mirrored_reports_and_keys():
    reports = {"a": "Lesion in the left upper zone.", "b": "Right lower lesion."}
    out = with_mirrored_reports(reports, ["left_right", "upper_lower"])
    assert len(out) == 2 * 4
    assert out[mirrored_key("a", ["left_right"])] == "Lesion in the right upper zone."
    assert out[mirrored_key("a", ["upper_lower", "left_right"])] == "Lesion in the right lower zone."
    assert out[mirrored_key("b", ["upper_lower"])] == "Right upper lesion."
    assert mirrored_key("a", ()) == "a"


class RampDataset:
    """2D cases stored as nnU-Net does, (C, 1, H, W): a ramp image whose corner values reveal any flip."""

    def __init__(self, n=6, size=12):
        self.identifiers = [f"case_{i}" for i in range(n)]
        self.size = size

    def load_case(self, identifier):
        s = self.size
        img = np.arange(s * s, dtype=np.float32).reshape(1, 1, s, s)
        seg = np.zeros((1, 1, s, s), dtype=np.int16)
        seg[0, 0, 0, 0] = 1  # marks the top-left corner
        return img, seg, None, {"class_locations": {1: np.array([[0, 0, 0, 0]])}}


def flips_seen(image: torch.Tensor, size: int) -> tuple:
    corner = int(image[0, 0, 0])
    return tuple(a for a, flipped in ((0, corner >= size * (size - 1)), (1, corner % size == size - 1)) if flipped)


def test_loader_flags_match_the_flip_actually_applied():
    torch.manual_seed(0)
    size = 12
    label_manager = LabelManager({"background": 0, "target": 1}, regions_class_order=None)
    transforms = ComposeTransforms([MirrorTransform(allowed_axes=(0, 1)), RemoveLabelTansform(-1, 0)])
    loader = MirrorFlagDataLoader(RampDataset(size=size), 4, (size, size), (size, size), label_manager,
                                  transforms=transforms)
    seen = set()
    for _ in range(12):
        batch = loader.generate_train_batch()
        assert batch["mirrored"].shape == (4, 2) and batch["mirrored"].dtype == torch.bool
        for b in range(4):
            applied = flips_seen(batch["data"][b], size)
            flagged = tuple(torch.nonzero(batch["mirrored"][b]).flatten().tolist())
            assert applied == flagged
            # the segmentation went through the same flip
            marker = torch.nonzero(batch["target"][b, 0] == 1).flatten().tolist()
            assert marker == [size - 1 if a in applied else 0 for a in (0, 1)]
            seen.add(applied)
    assert seen == {(), (0,), (1,), (0, 1)}


def test_loader_without_mirroring_flags_nothing_and_context_restores_nnunet_loader():
    from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as module
    original = module.nnUNetDataLoader
    with mirror_flag_data_loaders():
        assert module.nnUNetDataLoader is MirrorFlagDataLoader
    assert module.nnUNetDataLoader is original
    label_manager = LabelManager({"background": 0, "target": 1}, regions_class_order=None)
    loader = MirrorFlagDataLoader(RampDataset(), 3, (12, 12), (12, 12), label_manager, transforms=None)
    assert not loader.generate_train_batch()["mirrored"].any()


def test_trainer_uses_the_mirrored_report_key_of_each_flipped_sample():
    fake = SimpleNamespace(report_axes=ReportAxes({1: "left_right", 0: "upper_lower"}))
    batch = {"keys": ["a", "b", "c", "d"],
             "mirrored": torch.tensor([[False, False], [False, True], [True, False], [True, True]])}
    keys = nnUNetTrainerTMCA.text_keys(fake, batch)
    assert keys == ["a", mirrored_key("b", ["left_right"]), mirrored_key("c", ["upper_lower"]),
                    mirrored_key("d", ["left_right", "upper_lower"])]
    for mode in ("off", "naive"):
        fake = SimpleNamespace(report_axes=ReportAxes({1: "left_right", 0: "upper_lower"}, mode))
        assert nnUNetTrainerTMCA.text_keys(fake, batch) == \
            ["a", "b", "c", "d"]


class RecordingNetwork(torch.nn.Module):
    """Stands in for the network in the predictor: records (flip seen in the input, bound report) per call."""

    def __init__(self, tmca_network, size):
        super().__init__()
        self._orig_mod, self.size, self.calls = tmca_network, size, []

    def forward(self, x):
        self.calls.append((flips_seen(x[0], self.size), self._orig_mod._bound_text["report"]))
        return torch.zeros(x.shape[0], 2, *x.shape[2:])


@pytest.mark.parametrize("mode", ["consistent", "naive"])
def test_test_time_mirroring_pairs_each_flip_with_the_flipped_report(mode):
    from helpers import make_unet
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    from nnunetv2_tmca.model.config import TMCAConfig
    from nnunetv2_tmca.model.network import build_tmca_network

    size = 12
    tmca = build_tmca_network(make_unet(__import__("dynamic_network_architectures.architectures.unet",
                                                   fromlist=["PlainConvUNet"]).PlainConvUNet, 2, 3),
                              TMCAConfig(text_dim=8, model_dim=8, attention_dim=8, attention_heads=2, align_dim=8,
                                         text_mirroring=mode))
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), use_mirroring=True)
    predictor.network = RecordingNetwork(tmca, size)
    predictor.allowed_mirroring_axes = (0, 1)
    predictor.dataset_json = PNG
    predictor.plans_manager = SimpleNamespace(transpose_forward=[0, 1, 2])
    predictor.configuration_manager = SimpleNamespace(patch_size=[size, size])
    predictor.text_for_report = lambda report: {"report": report}
    report = "Lesion in the left upper zone."
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    with predictor.bound_report(report):
        predictor._internal_maybe_mirror_and_predict(x)
    assert tmca._bound_text is None and predictor._flip_texts == {}  # the binding ends with the block
    calls = dict(predictor.network.calls)
    assert set(calls) == {(), (0,), (1,), (0, 1)}
    if mode == "consistent":
        assert calls == {(): report, (0,): "Lesion in the left lower zone.", (1,): "Lesion in the right upper zone.",
                         (0, 1): "Lesion in the right lower zone."}
    else:
        assert set(calls.values()) == {report}



def test_validation_predictor_pairs_flips_with_the_current_cases_flipped_reports():
    """nnU-Net's perform_actual_validation builds its own predictor: inside the context it pairs flips too."""
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as trainer_module
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from helpers import make_unet
    from nnunetv2_tmca.mirroring.test_time import paired_mirroring_in_validation
    from nnunetv2_tmca.model.config import TMCAConfig
    from nnunetv2_tmca.model.network import build_tmca_network

    size = 12
    tmca = build_tmca_network(make_unet(PlainConvUNet, 2, 3), TMCAConfig(text_dim=8, model_dim=8, attention_dim=8,
                                                                         attention_heads=2, align_dim=8))
    current = {"texts": {}}
    with paired_mirroring_in_validation(tmca, lambda: current["texts"]):
        predictor = trainer_module.nnUNetPredictor(device=torch.device("cpu"), use_mirroring=True)
    assert trainer_module.nnUNetPredictor is nnUNetPredictor  # restored
    predictor.network = RecordingNetwork(tmca, size)
    predictor.allowed_mirroring_axes = (0, 1)
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    for case in ("a", "b"):
        current["texts"] = {(0,): {"report": f"{case} flipped 0"}, (1,): {"report": f"{case} flipped 1"},
                            (0, 1): {"report": f"{case} flipped 0+1"}}
        predictor.network.calls.clear()
        with tmca.bind_text({"report": case}):
            predictor._internal_maybe_mirror_and_predict(x)
        assert dict(predictor.network.calls) == {(): case, (0,): f"{case} flipped 0", (1,): f"{case} flipped 1",
                                                 (0, 1): f"{case} flipped 0+1"}
    current["texts"] = {}  # off / naive / no report axes: nnU-Net's own mirroring with the bound report
    predictor.network.calls.clear()
    with tmca.bind_text({"report": "b"}):
        predictor._internal_maybe_mirror_and_predict(x)
    assert set(dict(predictor.network.calls).values()) == {"b"} and len(predictor.network.calls) == 4


def test_text_mirror_trainer_trains_validates_and_predicts_from_stock_cli(tiny_dataset, tmp_path):
    root, folder = tiny_dataset
    env = clean_env(root, nnUNet_n_proc_DA="0")
    run(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"],
        env)
    model = root / "res" / DATASET_NAME / "nnUNetTrainerTMCA_debug__nnUNetPlans__2d"
    log = open(next((model / "fold_0").glob("training_log_*.txt"))).read()
    assert "text-consistent mirroring" in log and "mirror axes (0, 1)" in log
    reports = json.load(open(os.path.join(folder, "reports.json")))
    assert not any(text in log for text in reports.values())  # patient data stays out of the log
    checkpoint = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert tuple(checkpoint["inference_allowed_mirroring_axes"]) == (0, 1)
    # the mirrored reports' encodings sit in the same cache file as the originals
    from nnunetv2_tmca.reports import text_hash
    from nnunetv2_tmca.text.cache import load_table
    from nnunetv2_tmca.text.sentences import split_sentences
    cache = root / "pre" / DATASET_NAME / "tmca_text_cache" / "default__S128.safetensors"  # one row per sentence
    cached = set(load_table(str(cache)).hashes)
    wanted = with_mirrored_reports(reports, ["left_right", "upper_lower"])

    def sentence_hashes(texts):
        return {text_hash(s) for t in texts for s in split_sentences(t)}
    assert sentence_hashes(wanted.values()) <= cached
    assert len(sentence_hashes(wanted.values())) > len(sentence_hashes(reports.values()))
    plans = json.load(open(model / "plans.json"))
    assert plans["configurations"]["2d"]["tmca"]["text_mirroring"] == "consistent"
    out = tmp_path / "pred"
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), "-d", str(DATASET_ID),
         "-c", "2d", "-f", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu", "-npp", "0", "-nps",
         "0"], clean_env(root))
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == len(os.listdir(os.path.join(folder, "imagesTs")))
    # nnU-Net's validation during training pairs each flip with the flipped report too: same outputs
    val = json.load(open(root / "pre" / DATASET_NAME / "splits_final.json"))[0]["val"]
    inp, out_val = tmp_path / "val_in", tmp_path / "val_out"
    inp.mkdir()
    for c in val:
        os.symlink(os.path.join(folder, "imagesTr", c + "_0000.png"), inp / (c + "_0000.png"))
    run(["nnUNetv2_predict_tmca", "-i", str(inp), "-o", str(out_val), "-d", str(DATASET_ID), "-c", "2d", "-f", "0",
         "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu", "-npp", "0", "-nps", "0",
         "--reports", os.path.join(folder, "reports.json"), "--save_probabilities"], clean_env(root))
    from PIL import Image
    for c in val:
        assert np.array_equal(np.asarray(Image.open(out_val / (c + ".png"))),
                              np.asarray(Image.open(model / "fold_0" / "validation" / (c + ".png")))), c


@pytest.mark.parametrize("mode,dataset_json,expected", [
    ("off", PNG, None), ("consistent", PNG, (0, 1)), ("naive", PNG, (0, 1)),
    ("off", {"file_ending": ".png", "tmca": {"report_axes": {"left_right": 1}}}, (0,)),
    # without report_axes no flip is known to be safe: consistent mirroring mirrors nothing either
    ("consistent", {"file_ending": ".png"}, None), ("off", {"file_ending": ".png"}, None),
    ("naive", {"file_ending": ".png"}, (0, 1)),
])
def test_augmentation_policy_mirror_axes(mode, dataset_json, expected):
    trainer = object.__new__(nnUNetTrainerTMCA)
    trainer.text_mirroring, trainer.max_rotation_degrees, trainer.dataset_json = mode, 15.0, dataset_json
    trainer.configuration_manager = SimpleNamespace(patch_size=[32, 32])
    trainer.plans_manager = SimpleNamespace(transpose_forward=[0, 1, 2])
    trainer.report_axes = ReportAxes.from_plans(dataset_json, trainer.plans_manager, trainer.configuration_manager,
                                                mode)
    logged = []
    trainer.print_to_log_file = lambda *args, **kwargs: logged.append(" ".join(map(str, args)))
    rotation, _, _, mirror_axes = trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
    assert mirror_axes == expected and trainer.inference_allowed_mirroring_axes == expected
    assert max(abs(r) for r in rotation) <= np.deg2rad(15.0) + 1e-9
    assert any(f"text mirroring '{mode}'" in line for line in logged)


def test_each_item_is_predicted_with_its_own_report_whatever_the_order(monkeypatch):
    """The case id travels with the data item: items arriving in any order get their own case's report."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from nnunetv2_tmca.inference.predictor import _tagged, _untag, case_id_of, nnUNetPredictorTMCA

    assert case_id_of(["/in/case_7_0000.nii.gz", "/in/case_7_0001.nii.gz"], ".nii.gz") == "case_7"
    assert case_id_of(["/in/scan.png"], ".png") == "scan"
    tmca = SimpleNamespace(_bound_text=None)
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), use_mirroring=False,
                                    reports={"a": "report a", "b": "report b", "c": "report c"})
    predictor.text_for_report = lambda report: {"report": report}

    class Binder:
        from contextlib import contextmanager

        @staticmethod
        @contextmanager
        def bind_text(text):
            previous, tmca._bound_text = tmca._bound_text, text
            try:
                yield
            finally:
                tmca._bound_text = previous
    monkeypatch.setattr(nnUNetPredictorTMCA, "tmca_network", property(lambda self: Binder))

    def consume(self, data_iterator, *args):  # what nnU-Net does: predict each item before asking for the next
        return [(item["ofile"], tmca._bound_text["report"]) for item in data_iterator]
    monkeypatch.setattr(nnUNetPredictor, "predict_from_data_iterator", consume)
    tags = _tagged(["a", "b", "c"], None, ["out/a", "out/b", "out/c"])
    items = [{"data": None, "ofile": t} for t in (tags[2], tags[0], tags[1])]  # out of order
    got = predictor.predict_from_data_iterator(_untag(iter(items)))
    assert got == [("out/c", "report c"), ("out/a", "report a"), ("out/b", "report b")]
    assert tmca._bound_text is None
    arrays = _tagged(["array_0", "array_1"], ["own text", None], None)
    predictor.allow_missing_reports = True
    assert [r for _, r in predictor.predict_from_data_iterator(
        _untag(iter([{"ofile": arrays[1]}, {"ofile": arrays[0]}])))] == [None, "own text"]
