"""Tests for nnunetv2_tmca.dataset_conversion: tiny synthetic copies of each source layout.

Nothing here reads the real datasets: every fixture builds 16x16 images in tmp_path.
"""
import json
import os

import numpy as np
import openpyxl
import pytest
from PIL import Image

from nnunetv2_tmca.dataset_conversion.cases import sanitize_case_id
from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.dataset_conversion.convert import main as convert_main
from nnunetv2_tmca.dataset_conversion.kvasir import convert_kvasir
from nnunetv2_tmca.dataset_conversion.monuseg import convert_monuseg
from nnunetv2_tmca.dataset_conversion.mosmed import convert_mosmed
from nnunetv2_tmca.dataset_conversion.qata import convert_qata
from nnunetv2_tmca.reports import load_dataset_reports

SECRET = "SECRET-PATIENT-TEXT-91c4"
S = 16


# ---------------------------------------------------------------- helpers
def grey(seed):
    return np.random.RandomState(seed).randint(0, 256, (S, S), dtype=np.uint8)


def rgb(seed):
    return np.random.RandomState(seed).randint(0, 256, (S, S, 3), dtype=np.uint8)


def mask255(seed):
    m = np.zeros((S, S), np.uint8)
    r = seed % 6
    m[r:r + 6, 3:11] = 255
    return m


def save(arr, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path, **kw)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_xlsx(path, rows, header=("Image", "Description")):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)


def read(path):
    return np.array(Image.open(path))


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def roots(tmp_path, monkeypatch):
    raw, pre, res = (str(tmp_path / n) for n in ("raw", "pre", "res"))
    monkeypatch.setenv("nnUNet_raw", raw)
    monkeypatch.setenv("nnUNet_preprocessed", pre)
    monkeypatch.setenv("nnUNet_results", res)
    return raw, pre


def report(cid):
    return f"left lung infection {SECRET} {cid}"


# ---------------------------------------------------------------- fixtures per layout
@pytest.fixture
def prolearn(tmp_path):
    """QaTa ProLearn layout: 3 train (one listed twice), 2 val; ids like the real ones."""
    src = tmp_path / "qata_prolearn"
    train = ["covid_0001", "covid_0002", "cxr_s1-e2-r1"]
    val = ["covid_0003", "cxr_s3-e4-r1"]
    for i, cid in enumerate(train + val):
        save(grey(i), str(src / "images" / f"{cid}.png"))
        save(mask255(i), str(src / "masks" / f"{cid}.png"))
        write_text(str(src / "reports" / f"{cid}.txt"), report(cid) + "\n")
    with open(src / "split.json", "w") as f:
        json.dump({"train": train + ["cxr_s1-e2-r1"], "val": val}, f)
    return str(src), train, val


def make_lvit(root, folders, mask_prefix="mask_", rgb_images=False, ext=".png", xlsx_ext=".png"):
    """LViT layout: {Train,Val,Test}_Folder/img, labelcol, *_text.xlsx. folders: sub -> [stems]."""
    k = 0
    for sub, stems in folders.items():
        rows = []
        for stem in stems:
            img = rgb(k) if rgb_images else grey(k)
            save(img, os.path.join(root, sub, "img", stem + (ext if sub == "Test_Folder" else ".png")))
            save(mask255(k), os.path.join(root, sub, "labelcol", f"{mask_prefix}{stem}.png"))
            rows.append((f"{mask_prefix}{stem}{xlsx_ext}", report(stem)))
            k += 1
        write_xlsx(os.path.join(root, sub, f"{sub.split('_')[0]}_text.xlsx"), rows)
    return root


@pytest.fixture
def kvasir(tmp_path):
    src = tmp_path / "kvasir"
    names = {"train": ["cjuA", "cjuB", "cjuC"], "val": ["cjuD", "cjuE"]}
    k = 0
    for split, stems in names.items():
        entries = []
        for stem in stems:
            save(rgb(k), str(src / "images" / f"{stem}.jpg"), quality=90)
            save(np.stack([mask255(k)] * 3, -1), str(src / "masks" / f"{stem}.jpg"), quality=60)
            entries.append({"img_name": f"{stem}.jpg", "mask_name": f"{stem}.jpg", "bbox": [0, 0, 1, 1],
                            "prompts": {"p0": "", "p6": report(stem), "p7": [f"first {SECRET}", "second"]}})
            k += 1
        os.makedirs(src / "anns", exist_ok=True)
        with open(src / "anns" / f"{split}.json", "w") as f:
            json.dump(entries, f)
    return str(src), names


def assert_no_secret(capsys):
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err
    return out, err


# ---------------------------------------------------------------- QaTa ProLearn
def test_qata_prolearn(prolearn, roots, capsys):
    src, train, val = prolearn
    raw, pre = roots
    out = convert_qata(src, 501)
    assert out == os.path.join(raw, "Dataset501_QaTaCOV19")
    for cid in train + val:
        img = read(os.path.join(out, "imagesTr", f"{cid}_0000.png"))
        lab = read(os.path.join(out, "labelsTr", f"{cid}.png"))
        assert img.shape == (S, S) and img.dtype == np.uint8  # single-channel grey
        assert lab.dtype == np.uint8 and set(np.unique(lab)) == {0, 1}
        i = (train + val).index(cid)
        np.testing.assert_array_equal(img, grey(i))
        np.testing.assert_array_equal(lab, (mask255(i) > 0).astype(np.uint8))
    assert not os.path.exists(os.path.join(out, "imagesTs"))
    reports = load_json(os.path.join(out, "reports.json"))
    assert reports == {c: report(c) for c in train + val}  # stripped, nothing else changed
    dj = load_json(os.path.join(out, "dataset.json"))
    assert dj["labels"] == {"background": 0, "infection": 1} and dj["file_ending"] == ".png"
    assert dj["numTraining"] == 5 and dj["channel_names"] == {"0": "XRay"}
    assert dj["tmca"]["report_axes"] == {"left_right": 1, "upper_lower": 0}
    assert dj["tmca"]["layout"] == "prolearn" and dj["tmca"]["laterality"] == "image"
    splits = load_json(os.path.join(pre, "Dataset501_QaTaCOV19", "splits_final.json"))
    assert len(splits) == 5
    for fold in splits:  # fold 0 official, folds 1-4 copies; duplicate train id de-duplicated
        assert fold == {"train": sorted(train), "val": sorted(val)}
    out_s, err = assert_no_secret(capsys)
    assert "'train' lists 1 ids more than once" in err and "cxr_s1-e2-r1" in err
    # the project's own reports loader accepts the result
    assert set(load_dataset_reports(out, logger=lambda s: None)) == set(train + val)


def test_qata_missing_mask_reported_by_name(prolearn, roots, capsys):
    src, train, val = prolearn
    raw, pre = roots
    os.remove(os.path.join(src, "masks", "covid_0002.png"))
    os.remove(os.path.join(src, "reports", "covid_0003.txt"))
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501)
    msg = str(e.value)
    assert "image without mask" in msg and "'covid_0002'" in msg
    assert "image without report" in msg and "'covid_0003'" in msg
    assert SECRET not in msg
    assert not os.path.exists(os.path.join(raw, "Dataset501_QaTaCOV19"))
    assert not os.path.exists(os.path.join(pre, "Dataset501_QaTaCOV19"))
    assert not [d for d in os.listdir(raw) if "partial" in d] if os.path.isdir(raw) else True
    # with skip_missing: a warning naming them, the two cases left out
    out = convert_qata(src, 501, skip_missing=True)
    _, err = assert_no_secret(capsys)
    assert "covid_0002" in err and "covid_0003" in err
    assert sorted(load_json(os.path.join(out, "reports.json"))) == sorted(
        {"covid_0001", "cxr_s1-e2-r1", "cxr_s3-e4-r1"})
    assert not os.path.exists(os.path.join(out, "imagesTr", "covid_0002_0000.png"))


def test_qata_report_without_image_and_split_id_without_image(prolearn, roots):
    src, train, val = prolearn
    write_text(os.path.join(src, "reports", "ghost.txt"), report("ghost"))
    with open(os.path.join(src, "split.json"), "w") as f:
        json.dump({"train": train + ["lost_case"], "val": val}, f)
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501)
    assert "report without image" in str(e.value) and "'ghost'" in str(e.value)
    assert "no image in images/" in str(e.value) and "'lost_case'" in str(e.value)
    assert SECRET not in str(e.value)


def test_overwrite_protection(prolearn, roots, capsys):
    src, train, val = prolearn
    raw, pre = roots
    out = convert_qata(src, 501)
    marker = os.path.join(out, "marker.txt")
    write_text(marker, "keep me")
    before = sorted(os.listdir(os.path.join(out, "imagesTr")))
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501)
    assert out in str(e.value) and "--overwrite" in str(e.value)
    assert open(marker).read() == "keep me" and sorted(os.listdir(os.path.join(out, "imagesTr"))) == before
    # the CLI exits with 1 and names the folder
    assert convert_main(["qata", src, "-d", "501", "--no_progress"]) == 1
    _, err = assert_no_secret(capsys)
    assert out in err
    # splits_final.json alone is protected too
    moved = os.path.join(os.path.dirname(raw), "moved_away")
    os.rename(out, moved)
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501)
    assert "splits_final.json" in str(e.value)
    os.rename(moved, out)
    # --overwrite replaces everything (stale files are gone)
    convert_qata(src, 501, overwrite=True, max_cases=1)
    assert not os.path.exists(marker)
    assert len(os.listdir(os.path.join(out, "imagesTr"))) == 2  # 1 train + 1 val
    splits = load_json(os.path.join(pre, "Dataset501_QaTaCOV19", "splits_final.json"))
    assert [len(splits[0]["train"]), len(splits[0]["val"])] == [1, 1]
    # a different dataset with the same id is refused
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501, name="Other", overwrite=True)
    assert "Dataset501_QaTaCOV19" in str(e.value)
    assert_no_secret(capsys)


# ---------------------------------------------------------------- LViT layouts
def test_qata_lvit_with_test_folder(tmp_path, roots, capsys):
    raw, pre = roots
    src = make_lvit(str(tmp_path / "qata_lvit"), {"Train_Folder": ["covid_1", "covid 2"],
                                                  "Val_Folder": ["covid_3"],
                                                  "Test_Folder": ["covid_1", "sub-S1_dx"]})
    out = convert_qata(src, 504)  # layout detected
    dj = load_json(os.path.join(out, "dataset.json"))
    assert dj["tmca"]["layout"] == "lvit" and dj["numTraining"] == 3
    assert sorted(os.listdir(os.path.join(out, "imagesTr"))) == [
        "covid_1_0000.png", "covid_2_0000.png", "covid_3_0000.png"]  # space sanitized
    # test id clashing with a train id gets a prefix so reports.json keys stay unique
    assert sorted(os.listdir(os.path.join(out, "imagesTs"))) == ["sub-S1_dx_0000.png", "test_covid_1_0000.png"]
    assert sorted(os.listdir(os.path.join(out, "labelsTs"))) == ["sub-S1_dx.png", "test_covid_1.png"]
    reports = load_json(os.path.join(out, "reports.json"))
    assert reports["covid_2"] == report("covid 2") and reports["test_covid_1"] == report("covid_1")
    assert len(reports) == 5
    splits = load_json(os.path.join(pre, "Dataset504_QaTaCOV19", "splits_final.json"))
    assert splits[0] == {"train": ["covid_1", "covid_2"], "val": ["covid_3"]}
    _, err = assert_no_secret(capsys)
    assert "prefixed" in err and "covid_1" in err


def test_mosmed_lvit_grey_from_rgb_and_sizes(tmp_path, roots, capsys):
    src = make_lvit(str(tmp_path / "mosmed"), {"Train_Folder": ["s1", "s2"], "Val_Folder": ["s3"]},
                    rgb_images=True)
    out = convert_mosmed(src, 505, resize=8)
    img = read(os.path.join(out, "imagesTr", "s1_0000.png"))
    lab = read(os.path.join(out, "labelsTr", "s1.png"))
    assert img.shape == (8, 8) and lab.shape == (8, 8) and set(np.unique(lab)) <= {0, 1} and lab.any()
    dj = load_json(os.path.join(out, "dataset.json"))
    assert dj["channel_names"] == {"0": "CTslice"} and dj["tmca"]["resize"] == 8
    assert dj["tmca"]["laterality"] == "unverified"
    assert_no_secret(capsys)


def test_monuseg_rgb_tif_png_mismatch(tmp_path, roots, capsys):
    """MoNuSeg: masks without mask_ prefix; test images .tif while the xlsx says .png."""
    raw, pre = roots
    src = make_lvit(str(tmp_path / "monuseg"),
                    {"Train_Folder": ["TCGA-A", "TCGA-B"], "Val_Folder": ["TCGA-C"], "Test_Folder": ["TCGA-D"]},
                    mask_prefix="", rgb_images=True, ext=".tif")
    assert os.path.isfile(os.path.join(src, "Test_Folder", "img", "TCGA-D.tif"))
    out = convert_monuseg(src, 503)
    dj = load_json(os.path.join(out, "dataset.json"))
    assert dj["channel_names"] == {"0": "R", "1": "G", "2": "B"} and dj["labels"] == {"background": 0, "nucleus": 1}
    img = read(os.path.join(out, "imagesTs", "TCGA-D_0000.png"))  # ONE 3-channel file per case
    assert img.shape == (S, S, 3)
    np.testing.assert_array_equal(img, rgb(3))
    assert not os.path.exists(os.path.join(out, "imagesTr", "TCGA-A_0001.png"))
    assert load_json(os.path.join(out, "reports.json"))["TCGA-D"] == report("TCGA-D")
    # nnU-Net reads it as 3 channels and the dataset passes nnU-Net's own integrity check
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    data, _ = NaturalImage2DIO().read_images([os.path.join(out, "imagesTr", "TCGA-A_0000.png")])
    assert data.shape == (3, 1, S, S)
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    verify_dataset_integrity(out, num_processes=1)
    assert_no_secret(capsys)


def test_monuseg_val_only_random_folds(tmp_path, roots, capsys):
    raw, pre = roots
    stems = [f"TCGA-{i}" for i in range(6)]
    src = make_lvit(str(tmp_path / "monuseg_val"), {"Val_Folder": stems}, mask_prefix="", rgb_images=True)
    convert_monuseg(src, 503)
    splits = load_json(os.path.join(pre, "Dataset503_MoNuSeg", "splits_final.json"))
    assert len(splits) == 5
    assert sorted(sum((f["val"] for f in splits), [])) == stems  # a real 5-fold split
    for f in splits:
        assert f["train"] and not set(f["train"]) & set(f["val"])
    dj = load_json(os.path.join(raw, "Dataset503_MoNuSeg", "dataset.json"))
    assert "random" in dj["tmca"]["splits"]
    assert_no_secret(capsys)


def test_lvit_mismatches_by_name(tmp_path, roots, capsys):
    src = make_lvit(str(tmp_path / "lvit_bad"), {"Train_Folder": ["a", "b", "c"], "Val_Folder": ["d"]})
    os.remove(os.path.join(src, "Train_Folder", "labelcol", "mask_b.png"))  # image without mask
    os.remove(os.path.join(src, "Train_Folder", "img", "c.png"))  # mask + report without image
    write_xlsx(os.path.join(src, "Val_Folder", "Val_text.xlsx"), [("mask_d.png", "  ")])  # empty report
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 506, layout="lvit")
    msg = str(e.value)
    assert "image without mask: 1 case id: 'b'" in msg
    assert "mask without image" in msg and "'mask_c'" in msg
    assert "report without image" in msg
    assert "empty report text: 1 case id: 'd'" in msg
    assert SECRET not in msg
    assert_no_secret(capsys)


# ---------------------------------------------------------------- Kvasir
def test_kvasir_jpeg_threshold_and_prompts(kvasir, roots, capsys):
    src, names = kvasir
    raw, pre = roots
    out = convert_kvasir(src, 502)
    for stem in names["train"] + names["val"]:
        lab = read(os.path.join(out, "labelsTr", f"{stem}.png"))
        jpeg = np.array(Image.open(os.path.join(src, "masks", f"{stem}.jpg")))
        assert jpeg.ndim == 3 and len(np.unique(jpeg)) > 2  # RGB JPEG, noise really is there
        np.testing.assert_array_equal(lab, (jpeg.max(-1) > 127).astype(np.uint8))
        np.testing.assert_array_equal(lab, (np.array(Image.fromarray(jpeg).convert("L")) > 127))
        assert read(os.path.join(out, "imagesTr", f"{stem}_0000.png")).shape == (S, S, 3)
    reports = load_json(os.path.join(out, "reports.json"))
    assert reports == {s: report(s) for s in names["train"] + names["val"]}  # p6 by default
    dj = load_json(os.path.join(out, "dataset.json"))
    assert dj["tmca"]["prompt"] == "p6" and dj["labels"] == {"background": 0, "polyp": 1}
    assert load_json(os.path.join(pre, "Dataset502_KvasirSEG", "splits_final.json"))[0] == {
        "train": names["train"], "val": names["val"]}
    # a list prompt -> its first entry; via the CLI, with resizing
    assert convert_main(["kvasir", src, "-d", "502", "--prompt", "p7", "--overwrite", "--size", "8",
                         "--no_progress"]) == 0
    assert set(load_json(os.path.join(out, "reports.json")).values()) == {f"first {SECRET}"}
    assert read(os.path.join(out, "imagesTr", "cjuA_0000.png")).shape == (8, 8, 3)
    # p0 is empty for every case: refused, reports must be non-empty
    with pytest.raises(ConversionError) as e:
        convert_kvasir(src, 502, prompt="p0", overwrite=True)
    assert "empty report text" in str(e.value)
    assert_no_secret(capsys)


def test_kvasir_listed_image_missing(kvasir, roots, capsys):
    src, names = kvasir
    os.remove(os.path.join(src, "images", "cjuB.jpg"))
    os.remove(os.path.join(src, "masks", "cjuB.jpg"))
    with pytest.raises(ConversionError) as e:
        convert_kvasir(src, 502)
    assert "anns/train.json" in str(e.value) and "'cjuB'" in str(e.value)
    out = convert_kvasir(src, 502, skip_missing=True)
    _, err = assert_no_secret(capsys)
    assert "cjuB" in err
    assert sorted(load_json(os.path.join(out, "reports.json"))) == ["cjuA", "cjuC", "cjuD", "cjuE"]


def test_mask_formats(tmp_path):
    from nnunetv2_tmca.dataset_conversion.image_io import load_mask
    m = mask255(1)
    save((m > 0).astype(np.uint8), str(tmp_path / "m01.png"))  # already 0/1: kept
    pal = Image.fromarray((m > 0).astype(np.uint8), mode="L").convert("P")
    pal.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)  # VOC-style palette: index 1 is dark red
    pal.save(tmp_path / "mpal.png")
    red = np.zeros((S, S, 3), np.uint8)
    red[..., 0] = m  # a red-on-black colour mask
    save(red, str(tmp_path / "mred.png"))
    for f in ("m01.png", "mpal.png", "mred.png"):
        np.testing.assert_array_equal(load_mask(str(tmp_path / f)), (m > 0).astype(np.uint8))


def test_size_mismatch_leaves_nothing_behind(prolearn, roots, capsys):
    src, train, val = prolearn
    raw, pre = roots
    save(mask255(0)[:8], os.path.join(src, "masks", "covid_0001.png"))
    with pytest.raises(ConversionError) as e:
        convert_qata(src, 501, progress=False)
    assert "sizes differ" in str(e.value) and "covid_0001 (image 16x16, mask 16x8)" in str(e.value)
    assert os.listdir(raw) == [] and not os.path.exists(pre)
    out = convert_qata(src, 501, skip_missing=True, progress=False)
    assert "covid_0001" not in load_json(os.path.join(out, "reports.json"))
    assert_no_secret(capsys)


# ---------------------------------------------------------------- misc
def test_sanitize_case_id():
    assert sanitize_case_id("covid_0001") == "covid_0001"  # nnU-Net strips _0000 by position: unambiguous
    assert sanitize_case_id("a b.c") == "a_b_c"
    assert sanitize_case_id("cxr_s10389-e21806-r1") == "cxr_s10389-e21806-r1"
    assert sanitize_case_id(" Patient (1) ") == "Patient_1"
    with pytest.raises(ConversionError):
        sanitize_case_id("...")


def test_cli_errors(tmp_path, roots, capsys):
    assert convert_main(["qata", str(tmp_path / "nope"), "-d", "501"]) == 1
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        convert_main(["unknown", str(tmp_path), "-d", "501"])
