"""Tests for nnunetv2_tmca.reports: loading, validation, privacy of messages, atomic writes."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from nnunetv2_tmca.reports import (
    REPORTS_FILENAME,
    ReportError,
    atomic_write_json,
    check_reports_cover_cases,
    find_raw_dataset_folder,
    load_dataset_reports,
    load_reports,
    normalize_report,
    raw_dataset_case_ids,
    text_hash,
)

SECRET = "SECRET-PATIENT-TEXT-7f3a"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT_REPORTS = os.path.join(REPO, "text_reports")


def write(path, content, encoding="utf-8"):
    with open(path, "w", encoding=encoding) as f:
        f.write(content)
    return str(path)


def expect_report_error(path, *ids):
    """Loading ``path`` fails with a ReportError naming the file and ids, without text; file unchanged."""
    before = open(path, "rb").read()
    with pytest.raises(ReportError) as info:
        load_reports(path)
    msg = str(info.value)
    assert str(path) in msg
    for i in ids:
        assert repr(i) in msg
    assert SECRET not in msg and SECRET not in repr(info.value)
    assert open(path, "rb").read() == before
    return info.value


# ---------------------------------------------------------------- load_reports

def test_load_valid_string_and_object_values(tmp_path):
    p = write(tmp_path / "r.json", json.dumps({
        "a": "  Upper left lesion.\n", "b": {"text": "Lower right.", "source": "x", "extra": {"k": 1}}}))
    assert load_reports(p) == {"a": "Upper left lesion.", "b": "Lower right."}


def test_load_accepts_bom_and_pathlike(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"a": "Lésion gauche"}, ensure_ascii=False), encoding="utf-8-sig")
    assert open(p, "rb").read().startswith(b"\xef\xbb\xbf")
    assert load_reports(p) == {"a": "Lésion gauche"}


def test_missing_file(tmp_path):
    p = str(tmp_path / "nope.json")
    with pytest.raises(ReportError, match="not found") as info:
        load_reports(p)
    assert p in str(info.value)
    assert not os.path.exists(p)


def test_invalid_json_gives_line_and_column(tmp_path):
    p = write(tmp_path / "r.json", '{\n  "a": "%s",\n  "b" "x"\n}' % SECRET)
    err = expect_report_error(p)
    assert "line 3" in str(err) and "column" in str(err)


def test_not_utf8(tmp_path):
    p = tmp_path / "r.json"
    p.write_bytes(b'{"a": "' + SECRET.encode() + b'\xff"}')
    err = expect_report_error(str(p))
    assert "UTF-8" in str(err)


@pytest.mark.parametrize("content, kind", [([SECRET], "an array"), (SECRET, "a string"), (3, "a number")])
def test_top_level_not_object(tmp_path, content, kind):
    p = write(tmp_path / "r.json", json.dumps(content))
    err = expect_report_error(p)
    assert "object" in str(err) and kind in str(err)


def test_duplicate_keys_are_detected(tmp_path):
    p = write(tmp_path / "r.json",
              '{"a": "%s", "b": "ok", "a": "other", "c": "x", "c": "y", "c": "z"}' % SECRET)
    err = expect_report_error(p, "a", "c")
    assert "duplicate" in str(err) and "'b'" not in str(err)
    assert err.case_ids == ["a", "c"]


def test_duplicate_field_inside_object(tmp_path):
    p = write(tmp_path / "r.json", '{"a": {"text": "%s", "text": "y"}}' % SECRET)
    expect_report_error(p, "a")


@pytest.mark.parametrize("value", [7, None, True, [SECRET], {"txt": SECRET}, {"text": 5}, {"text": [SECRET]}])
def test_bad_value_types(tmp_path, value):
    p = write(tmp_path / "r.json", json.dumps({"good": "fine", "bad_case": value}))
    err = expect_report_error(p, "bad_case")
    assert "'good'" not in str(err)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", {"text": " "}])
def test_empty_and_whitespace_text(tmp_path, text):
    p = write(tmp_path / "r.json", json.dumps({"good": SECRET, "empty_case": text}))
    err = expect_report_error(p, "empty_case")
    assert "empty" in str(err)


@pytest.mark.parametrize("bad_id", ["", "  ", " padded", "padded\t"])
def test_bad_case_ids(tmp_path, bad_id):
    p = write(tmp_path / "r.json", json.dumps({"good": "x", bad_id: SECRET}))
    expect_report_error(p, bad_id)


def test_all_problems_reported_together_and_ids_truncated(tmp_path):
    data = {f"e{i:02d}": "" for i in range(13)}
    data["t"] = 1
    p = write(tmp_path / "r.json", json.dumps(data))
    err = expect_report_error(p, "t", *[f"e{i:02d}" for i in range(10)])
    msg = str(err)
    assert "13 case ids" in msg and "and 3 more" in msg and "'e12'" not in msg
    assert len(err.case_ids) == 14


# ---------------------------------------------------------------- coverage

def test_missing_training_reports_raise_with_count_and_ids():
    reports = {"c0": SECRET}
    training = ["c0"] + [f"m{i:02d}" for i in range(12)]
    with pytest.raises(ReportError) as info:
        check_reports_cover_cases(reports, training, "/x/reports.json", logger=lambda s: None)
    msg = str(info.value)
    assert "/x/reports.json" in msg and "12 of 13" in msg and "'m00'" in msg and "and 2 more" in msg
    assert SECRET not in msg


def test_unknown_ids_warn_not_raise():
    logs = []
    reports = {"a": SECRET, "b": SECRET, "zz": SECRET, "ts1": SECRET}
    unknown = check_reports_cover_cases(reports, ["a", "b"], "/x/reports.json",
                                        known_extra_ids=["ts1"], logger=logs.append)
    assert unknown == ["zz"]
    assert len(logs) == 1 and "'zz'" in logs[0] and "1 ids" in logs[0] and SECRET not in logs[0]


# ---------------------------------------------------------------- dataset level

def make_raw_dataset(root, train=("c1", "c2", "c3"), test=("t1", "t2"), reports=None):
    folder = root / "Dataset901_Tiny"
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True)
    img = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))
    seg = Image.fromarray((np.arange(64).reshape(8, 8) > 40).astype(np.uint8))
    for c in train:
        img.save(folder / "imagesTr" / f"{c}_0000.png")
        seg.save(folder / "labelsTr" / f"{c}.png")
    for c in test:
        img.save(folder / "imagesTs" / f"{c}_0000.png")
    (folder / "imagesTs" / "notes.txt").write_text("not an image")
    write(folder / "dataset.json", json.dumps({
        "channel_names": {"0": "x"}, "labels": {"background": 0, "lesion": 1},
        "numTraining": len(train), "file_ending": ".png"}))
    if reports is not None:
        write(folder / REPORTS_FILENAME, json.dumps(reports))
    return folder


def test_raw_dataset_case_ids(tmp_path):
    folder = make_raw_dataset(tmp_path)
    assert raw_dataset_case_ids(folder) == (["c1", "c2", "c3"], ["t1", "t2"])
    assert raw_dataset_case_ids(str(folder)) == (["c1", "c2", "c3"], ["t1", "t2"])


def test_raw_dataset_without_imagests(tmp_path):
    folder = make_raw_dataset(tmp_path, test=())
    for f in os.listdir(folder / "imagesTs"):
        os.remove(folder / "imagesTs" / f)
    os.rmdir(folder / "imagesTs")
    assert raw_dataset_case_ids(folder) == (["c1", "c2", "c3"], [])


def test_load_dataset_reports_ok_with_test_ids_known(tmp_path):
    reports = {"c1": "one", "c2": {"text": "two"}, "c3": "three", "t1": SECRET}
    folder = make_raw_dataset(tmp_path, reports=reports)
    logs = []
    out = load_dataset_reports(folder, logger=logs.append)
    assert out == {"c1": "one", "c2": "two", "c3": "three", "t1": SECRET}
    assert not any("WARNING" in s for s in logs)
    assert any("4 reports for 3 training cases" in s and "(0 unknown ids)" in s for s in logs)
    assert all(SECRET not in s for s in logs)


def test_load_dataset_reports_unknown_id_is_warning(tmp_path):
    folder = make_raw_dataset(tmp_path, reports={"c1": "a", "c2": "b", "c3": "c", "ghost": SECRET})
    logs = []
    assert "ghost" not in load_dataset_reports(folder, logger=logs.append)  # ignored: never encoded
    assert any("WARNING" in s and "'ghost'" in s for s in logs)
    assert any("(1 unknown ids)" in s for s in logs)
    assert all(SECRET not in s for s in logs)


def test_load_dataset_reports_missing_training_report(tmp_path):
    folder = make_raw_dataset(tmp_path, reports={"c1": SECRET, "t1": "x"})
    with pytest.raises(ReportError) as info:
        load_dataset_reports(folder, logger=lambda s: None)
    msg = str(info.value)
    assert str(folder / REPORTS_FILENAME) in msg and "2 of 3" in msg and "'c2'" in msg and "'c3'" in msg
    assert "'c1'" not in msg and SECRET not in msg


def test_load_dataset_reports_missing_file(tmp_path):
    folder = make_raw_dataset(tmp_path)
    with pytest.raises(ReportError) as info:
        load_dataset_reports(folder, logger=lambda s: None)
    assert str(folder / REPORTS_FILENAME) in str(info.value) and "dataset.json" in str(info.value)


def test_ids_in_both_imagestr_and_imagests(tmp_path):
    folder = make_raw_dataset(tmp_path, test=("c2", "t1"), reports={"c1": "a", "c2": "b", "c3": "c"})
    with pytest.raises(ReportError, match="unique across imagesTr and imagesTs") as info:
        load_dataset_reports(folder, logger=lambda s: None)
    assert "'c2'" in str(info.value)


def test_find_raw_dataset_folder(tmp_path, monkeypatch):
    folder = make_raw_dataset(tmp_path)
    monkeypatch.setenv("nnUNet_raw", str(tmp_path))
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    monkeypatch.delenv("nnUNet_results", raising=False)
    assert find_raw_dataset_folder(901) == str(folder)
    assert find_raw_dataset_folder("Dataset901_Tiny") == str(folder)
    with pytest.raises(FileNotFoundError):
        find_raw_dataset_folder("Dataset902_Missing")


# ---------------------------------------------------------------- helpers

def test_atomic_write_json_roundtrip(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json({"a": "é", "n": [1, 2]}, p)
    assert json.loads(p.read_text(encoding="utf-8")) == {"a": "é", "n": [1, 2]}
    assert os.listdir(tmp_path) == ["out.json"]


def test_atomic_write_json_failure_keeps_old_file(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json({"old": True}, p)
    before = p.read_bytes()
    with pytest.raises(TypeError):
        atomic_write_json({"first": 1, "bad": object()}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.json"]


def test_normalize_report():
    assert normalize_report("Upper left lung.") == normalize_report("upper  left lung") == "upper left lung"
    assert normalize_report("Left-sided\u00a0lesion;\tＵＰＰＥＲ lobe!") == "left sided lesion upper lobe"
    assert normalize_report("upper left") != normalize_report("upper right")


def test_text_hash_stable():
    assert text_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert text_hash("Upper left.") == text_hash("Upper left.")
    assert text_hash("Upper left.") != text_hash("Upper left. ")
    assert len(text_hash("é")) == 64


# ---------------------------------------------------------------- shipped example

def test_example_reports_load():
    reports = load_reports(os.path.join(TEXT_REPORTS, "example_reports.json"))
    assert len(reports) == 4 and all(isinstance(v, str) and v for v in reports.values())


def test_example_reports_match_schema():
    jsonschema = pytest.importorskip("jsonschema")
    with open(os.path.join(TEXT_REPORTS, "reports.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    with open(os.path.join(TEXT_REPORTS, "example_reports.json"), encoding="utf-8") as f:
        example = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    validator.validate(example)
    for bad in ({"a": ""}, {"a": "  \n"}, {"a": {"txt": "x"}}, {"a": 3}, {"": "x"}, {" a": "x"}, []):
        assert not validator.is_valid(bad), bad
