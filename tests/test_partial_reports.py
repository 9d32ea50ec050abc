"""Partial reports (issue #15): a dataset where only some training cases have a report.

Default: a training case without a report is an error naming it. ``dataset.json`` ``"tmca":
{"reports_optional": true}``: those cases train with the learned null text, are never mirrored
report keys and never rows of the contrastive terms; the log gives counts, never text.
"""
import json
import os
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet

from helpers import (
    CONFIG,
    DATASET_ID,
    DATASET_NAME,
    clean_env,
    copy_planned_dataset,
    make_unet,
    open_gates,
    random_text,
    run,
)
from nnunetv2_tmca.dataset_conversion.partial_reports import choose_cases_with_report, keep_reports_of
from nnunetv2_tmca.losses import MultiLevelAlignmentLoss
from nnunetv2_tmca.mirroring.axes import ReportAxes
from nnunetv2_tmca.mirroring.keys import mirrored_key
from nnunetv2_tmca.model.network import build_tmca_network
from nnunetv2_tmca.reports import ReportError, load_dataset_reports, reports_optional
from nnunetv2_tmca.text.cache import TextEncodingTable
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA
from nnunetv2_tmca.training.text_lookup import TextLookup

SECRET = "SECRET-PATIENT-TEXT-15"


UNSET = object()


def raw_dataset(root, optional=UNSET, reports=None):
    """Three training cases (c1 with a report), two test cases; ``optional``: the dataset.json switch."""
    from PIL import Image
    folder = root / "Dataset985_Partial"
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True)
    img = Image.fromarray(np.zeros((8, 8), np.uint8))
    for c in ("c1", "c2", "c3"):
        img.save(folder / "imagesTr" / f"{c}_0000.png")
        img.save(folder / "labelsTr" / f"{c}.png")
    for c in ("t1", "t2"):
        img.save(folder / "imagesTs" / f"{c}_0000.png")
    dataset_json = {"channel_names": {"0": "x"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 3,
                    "file_ending": ".png"}
    if optional is not UNSET:
        dataset_json["tmca"] = {"reports_optional": optional}
    (folder / "dataset.json").write_text(json.dumps(dataset_json))
    (folder / "reports.json").write_text(json.dumps(reports if reports is not None else {"c1": SECRET, "t1": "x"}))
    return folder


# ------------------------------------------------------------------ the rule in reports.py

@pytest.mark.parametrize("optional", [UNSET, False])
def test_missing_reports_are_an_error_naming_the_cases_by_default(tmp_path, optional):
    folder = raw_dataset(tmp_path, optional)
    with pytest.raises(ReportError) as info:
        load_dataset_reports(folder, logger=lambda s: None)
    msg = str(info.value)
    assert "'c2'" in msg and "'c3'" in msg and "'c1'" not in msg and "2 of 3" in msg
    assert "reports_optional" in msg and str(folder / "reports.json") in msg and SECRET not in msg
    assert info.value.case_ids == ["c2", "c3"]


def test_reports_optional_allows_missing_reports_and_logs_counts(tmp_path):
    folder = raw_dataset(tmp_path, True)
    logs = []
    assert load_dataset_reports(folder, logger=logs.append) == {"c1": SECRET, "t1": "x"}
    assert any("1 of 3 training cases have a report, 2 train with the null text" in s for s in logs)
    assert all(SECRET not in s for s in logs)


@pytest.mark.parametrize("value", ["true", 1, None])
def test_reports_optional_must_be_a_boolean(tmp_path, value):
    folder = raw_dataset(tmp_path, value)
    with pytest.raises(ReportError, match="must be true or false") as info:
        load_dataset_reports(folder, logger=lambda s: None)
    assert "dataset.json" in str(info.value)
    assert reports_optional({}) is False and reports_optional({"tmca": {"reports_optional": True}}) is True


def test_a_reports_file_without_any_report_is_an_error_even_if_optional(tmp_path):
    folder = raw_dataset(tmp_path, True, reports={})
    with pytest.raises(ReportError, match="holds no report of a training or test case"):
        load_dataset_reports(folder, logger=lambda s: None)


# ------------------------------------------------------------------ lookup, keys, losses

def lookup_table(texts: dict) -> TextEncodingTable:
    from nnunetv2_tmca.reports import text_hash
    unique = sorted(set(texts.values()))
    n = len(unique)
    table = TextEncodingTable.from_padded(tokens=np.random.rand(n, 4, 6).astype(np.float16), mask=np.ones((n, 4), bool),
                              pooled=np.zeros((n, 6), np.float32), hashes=[text_hash(t) for t in unique],
                              identity={})
    return table.bind_cases(texts)


def test_text_lookup_gives_reportless_cases_the_null_text_and_no_group():
    reports = {"a": "one", "b": "two"}
    lookup = TextLookup(lookup_table(reports), reports, torch.device("cpu"), no_report={"c"})
    out = lookup.batch(["a", "c", "b", "c"])
    assert out["null"].tolist() == [False, True, False, True]
    assert out["group"][1] == -1 and out["group"][3] == -1 and out["group"][0] >= 0 and out["group"][2] >= 0
    assert lookup.single("c")["null"].tolist() == [True]
    # reportless cases stay null whatever the dropout draws; a key nobody declared is still an error
    assert lookup.batch(["c"] * 50, dropout=0.1)["null"].all()
    with pytest.raises(KeyError, match="typo"):
        lookup.batch(["typo"])


def test_reportless_cases_get_no_mirrored_keys():
    fake = SimpleNamespace(report_axes=ReportAxes({1: "left_right", 0: "upper_lower"}),
                           reportless_cases=frozenset({"b"}))
    batch = {"keys": ["a", "b"], "mirrored": torch.tensor([[True, True], [True, True]])}
    assert nnUNetTrainerTMCA.text_keys(fake, batch) == [mirrored_key("a", ["left_right", "upper_lower"]), "b"]


def test_reportless_rows_take_no_part_in_the_contrastive_term():
    torch.manual_seed(0)
    b, e = 4, 8
    fg = torch.zeros(b, 1, 6, 6)
    fg[:, :, 1:4, 1:4] = 1
    out = {"pixel_emb": torch.randn(b, e, 6, 6), "text_emb": torch.nn.functional.normalize(torch.randn(b, e), dim=1),
           "logits": torch.randn(b, 1, 6, 6)}
    loss = MultiLevelAlignmentLoss({0: 1.0})
    groups = torch.tensor([0, 1, -1, -1])
    no_report = torch.tensor([False, False, True, True])
    _, parts = loss({0: out}, {0: fg}, groups, ~no_report)
    # changing what a reportless row's text would be changes nothing in the region term
    out2 = dict(out, text_emb=out["text_emb"].clone())
    out2["text_emb"][2:] = torch.nn.functional.normalize(torch.randn(2, e), dim=1)
    _, parts2 = loss({0: out2}, {0: fg}, groups, ~no_report)
    assert parts["region"] == pytest.approx(parts2["region"]) and parts["region"] > 0


# ------------------------------------------------------------------ null bypass (part 2)

def test_null_bypass_rows_compute_the_planned_unet_even_with_open_gates():
    torch.manual_seed(0)
    unet = make_unet(PlainConvUNet, 2, 4)
    config = CONFIG.__class__(**{**CONFIG.to_dict(), "null_bypass": True})
    net = build_tmca_network(unet, config)
    open_gates(net)
    with torch.no_grad():
        net.output_fusion.fill_(1.0)
    x = torch.randn(3, 1, 16, 16)
    text = dict(random_text(3), null=torch.tensor([False, True, False]))
    for training in (True, False):
        net.train(training)
        unet.train(training)
        with torch.no_grad():
            ref = unet(x)
            out = net(x, text=text)
            assert torch.allclose(out[0][1], ref[0][1], atol=1e-5)  # the reportless row: plain U-Net
            assert not torch.allclose(out[0][0], ref[0][0], atol=1e-3)  # rows with a report: text-guided
        with torch.no_grad():  # the plain path (_plainPath's auxiliary output): the planned decoder, every row
            plain = net(x, text=text, return_alignment=True, plain=True)[1]["plain"]
            assert all(torch.allclose(p, r, atol=1e-5) for p, r in zip(plain, ref))
    net.eval()
    unet.eval()
    with torch.no_grad(), pytest.warns(UserWarning, match="without a report"):
        assert torch.equal(net(x)[0], unet(x)[0])  # no report at all (stock nnUNetv2_predict): the planned U-Net



# ------------------------------------------------------------------ dataset helper and stock CLI

def test_keep_reports_of_a_seeded_share_nested_over_fractions(tmp_path):
    ids = [f"c{i:02d}" for i in range(40)]
    half, tenth = choose_cases_with_report(ids, 0.5, seed=3), choose_cases_with_report(ids, 0.1, seed=3)
    assert len(half) == 20 and len(tenth) == 4 and set(tenth) <= set(half)
    assert choose_cases_with_report(ids, 0.5, seed=3) == half and choose_cases_with_report(ids, 0.0, 3) == []
    folder = raw_dataset(tmp_path, reports={"c1": SECRET, "c2": "b", "c3": "c", "t1": "x"})
    dropped = keep_reports_of(folder, ["c1"], training_cases=["c1", "c2", "c3"])
    assert dropped == ["c2", "c3"]
    assert json.load(open(folder / "reports.json")) == {"c1": SECRET, "t1": "x"}  # test reports stay
    assert json.load(open(folder / "dataset.json"))["tmca"]["reports_optional"] is True


@pytest.fixture(scope="module")
def half_reports_dataset(tiny_dataset, tmp_path_factory):
    """A copy of the session's tiny planned dataset with the reports of half of its training cases removed."""
    root = tmp_path_factory.mktemp("partial")
    folder = copy_planned_dataset(tiny_dataset[0], root)
    reports = json.load(open(os.path.join(folder, "reports.json")))
    training = sorted(f[:-len("_0000.png")] for f in os.listdir(os.path.join(folder, "imagesTr")))
    dropped = keep_reports_of(folder, training[::2], training_cases=training)
    assert len(dropped) == 8 and not set(dropped) & set(json.load(open(os.path.join(folder, "reports.json"))))
    assert len(reports) == 20
    return root, folder, dropped


def set_optional(folder, value):
    path = os.path.join(folder, "dataset.json")
    dataset_json = json.load(open(path))
    dataset_json.setdefault("tmca", {})["reports_optional"] = value
    json.dump(dataset_json, open(path, "w"))


def train(root, fold):
    return subprocess.run(["nnUNetv2_train", str(DATASET_ID), "2d", str(fold), "-tr", "nnUNetTrainerTMCA_debug",
                           "-device", "cpu"], env=clean_env(root, nnUNet_n_proc_DA="0"), capture_output=True,
                          text=True, timeout=600)


def test_half_the_reports_fails_naming_the_cases_with_the_switch_off(half_reports_dataset):
    root, folder, dropped = half_reports_dataset
    set_optional(folder, False)
    before = open(os.path.join(folder, "reports.json"), "rb").read()
    p = train(root, 1)
    assert p.returncode != 0
    err = p.stderr
    assert "nnUNetv2_train: error:" in err and "Traceback" not in err  # one clear line (cli_errors)
    assert "has no report for 8 of 16 training cases" in err and "reports_optional" in err
    assert os.path.join(folder, "reports.json") in err
    assert all(repr(c) in err for c in dropped)
    assert open(os.path.join(folder, "reports.json"), "rb").read() == before  # nothing was changed


def test_half_the_reports_trains_validates_and_predicts_with_the_switch_on(half_reports_dataset, tmp_path):
    root, folder, dropped = half_reports_dataset
    set_optional(folder, True)
    p = train(root, 0)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    model = root / "res" / DATASET_NAME / "nnUNetTrainerTMCA_debug__nnUNetPlans__2d"
    log = "".join(open(model / "fold_0" / f).read() for f in os.listdir(model / "fold_0")
                  if f.startswith("training_log"))
    assert "TMCA reports: 8 of 16 training cases have a report; 8 train with the learned null text" in log
    assert os.path.isfile(model / "fold_0" / "validation" / "summary.json")  # reportless validation cases too
    reports = json.load(open(os.path.join(folder, "reports.json")))
    assert not any(text in log + p.stdout for text in reports.values())  # counts and ids, never text
    out = tmp_path / "pred"
    run(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", str(out), "-d", str(DATASET_ID),
         "-c", "2d", "-f", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu", "-npp", "0", "-nps", "0",
         "--reports", os.path.join(folder, "reports.json")], clean_env(root))
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == 4
    shutil.rmtree(out)


def test_partial_reports_copy_links_images_thins_fold0_training_reports_and_copies_splits(tmp_path):
    from nnunetv2_tmca.dataset_conversion.partial_reports import partial_reports_copy
    from nnunetv2_tmca.experiments.report_curve import fraction_dataset_id
    raw_root, pre = tmp_path / "raw", tmp_path / "pre"
    raw_root.mkdir()
    source = raw_dataset(raw_root, reports={"c1": "a", "c2": "b", "c3": SECRET, "t1": "x"})
    (pre / source.name).mkdir(parents=True)
    json.dump([{"train": ["c1", "c2"], "val": ["c3"]}], open(pre / source.name / "splits_final.json", "w"))
    new_id = fraction_dataset_id(str(raw_root), 985, "Partial", 0.5)
    assert new_id == 986
    folder = partial_reports_copy(str(source), str(raw_root), new_id, 0.5, seed=0, preprocessed_root=str(pre),
                                  use_splits=True)
    assert os.path.basename(folder) == "Dataset986_PartialR050" and os.path.islink(os.path.join(folder, "imagesTr"))
    kept = json.load(open(os.path.join(folder, "reports.json")))
    assert len({"c1", "c2"} & set(kept)) == 1 and kept["c3"] == SECRET and kept["t1"] == "x"  # validation stays
    assert json.load(open(source / "reports.json"))["c1"] == "a" and "c2" in json.load(open(source / "reports.json"))
    assert os.path.isfile(pre / "Dataset986_PartialR050" / "splits_final.json")
    assert fraction_dataset_id(str(raw_root), 985, "Partial", 0.5) == 986  # found again, not made twice
    assert load_dataset_reports(folder, logger=lambda s: None) == kept


def test_null_bypass_compiles_in_one_graph():
    """The bypass reads no tensor values: torch.compile(fullgraph=True) traces rows with and without a report."""
    torch.manual_seed(0)
    config = CONFIG.__class__(**{**CONFIG.to_dict(), "null_bypass": True})
    net = build_tmca_network(make_unet(PlainConvUNet, 2, 4), config)
    open_gates(net)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 1, 16, 16)
    text = dict(random_text(2), null=torch.tensor([False, True]))
    seg, _ = compiled(x, text=text, return_alignment=True)
    ref, _ = net(x, text=text, return_alignment=True)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(seg, ref))
