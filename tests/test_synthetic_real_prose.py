"""Tests for the real-prose reports of the synthetic dataset (report_style="real").

The corpus is the test's own: invented CT-report-style sentences, written here, never taken from a real file.
"""
import hashlib
import json
import os
import re

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from nnunetv2_tmca.reports import ReportError
from nnunetv2_tmca.synthetic import cli
from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset
from nnunetv2_tmca.synthetic.images import cell_of_point, sample_case
from nnunetv2_tmca.synthetic.lung_places import lung_places, mentions_kind, target_finding
from nnunetv2_tmca.synthetic.real_prose import RealProse, draw_report, load_report_corpus, patient_of, split_patients
from nnunetv2_tmca.text.sentences import split_sentences

# ----------------------------------------------------------------------------- the parser
PLACES = [
    ("A small nodule in the posterobasal segment of the lower lobe of the left lung.", [("left", "lower")]),
    ("Two tiny foci are seen in the right lung middle lobe.", [("right", "middle")]),
    ("A calcified nodule sits in the lingula.", [("left", "middle")]),
    ("Faint opacity in the lingular segment.", [("left", "middle")]),
    ("Atelectatic band in the middle lobe.", [("right", "middle")]),
    ("Scarring in the right upper lobe.", [("right", "upper")]),
    ("Nodule in the upper lobe anterior segment of the right lung.", [("right", "upper")]),
    ("Pleural thickening at the apex of the right lung.", [("right", "upper")]),
    ("A focus in the apical segment of the left lung upper lobe.", [("left", "upper")]),
    ("A focus in the superior segment of the lower lobe of the right lung.", [("right", "lower")]),
    ("Nodules in the lower lobes of both lungs.", [("left", "lower"), ("right", "lower")]),
    ("Nodules in the right lung upper lobe and the left lung lower lobe.", [("right", "upper"), ("left", "lower")]),
    ("Nodules in the upper and lower lobes of the left lung.", [("left", "upper"), ("left", "lower")]),
    ("A nodule in the lingular segment of the left upper lobe.", [("left", "middle")]),
    ("Foci in the right lower lobe posterobasal and laterobasal segments.", [("right", "lower")]),
    ("A nodule in the lower lobe posterobasal segment on the left.", [("left", "lower")]),
    ("Nodules in the lower lobes bilaterally.", [("left", "lower"), ("right", "lower")]),
    ("Nodule (series 2 image 134) of 3.5 mm in the left lower lobe.", [("left", "lower")]),
    ("On the lung window; a 3.5 mm nodule in the anterior segment of the right lung upper lobe.",
     [("right", "upper")]),
    # not definite
    ("A nodule in the upper lobe.", None),
    ("Several nodules in both lungs.", None),
    ("A nodule in the right lung.", None),
    ("Nodules in both lungs, the biggest in the right upper lobe.", None),
    ("In the right lung, a nodule in the upper lobe.", None),
    ("A nodule in the left middle lobe.", None),
    ("The heart is of normal size.", None),
]


@pytest.mark.parametrize("sentence,cells", PLACES)
def test_lung_places(sentence, cells):
    assert lung_places(sentence) == cells


TARGETS = [
    ("A 4 mm solid nodule is seen in the posterobasal segment of the lower lobe of the left lung.",
     [("left", "lower")]),
    ("A ground glass nodule of 3.5 mm in the right upper lobe (series 2 image 134).", [("right", "upper")]),
    ("Small nodules are noted in the lower lobes of both lungs.", [("left", "lower"), ("right", "lower")]),
    ("A nodule in the right upper lobe; stable since the last study.", [("right", "upper")]),
    ("No nodule is seen in the right upper lobe.", None),
    ("No nodular lesion was detected in the left lower lobe.", None),
    ("The nodule in the left lower lobe is not observed on this study.", None),
    ("Right upper lobe without any nodule.", None),
    ("A nodule? in the right upper lobe.", None),
    ("A thyroid nodule in the right lobe.", None),
    ("A 9 mm nodule in the left breast.", None),
    ("A hypodense nodule in the right lobe of the liver.", None),
    ("A nodular lesion of the left adrenal gland.", None),
    ("A Schmorl nodule at the lower thoracic vertebra.", None),
    ("Reticulonodular densities in the right lower lobe.", None),
    ("Linear atelectasis in the right lower lobe and a nodule in the left upper lobe.", None),
    ("A nodule in the upper lobe; follow-up is advised.", None),
]


@pytest.mark.parametrize("sentence,cells", TARGETS)
def test_target_finding(sentence, cells):
    assert target_finding(sentence) == cells
    assert mentions_kind(sentence)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown finding kind"):
        target_finding("A mass in the right upper lobe.", kind="mass")


# ----------------------------------------------------------------------------- an invented corpus
TARGET_SENTENCES = [
    ("A 4 mm solid nodule is seen in the posterobasal segment of the lower lobe of the left lung.",
     [("left", "lower")]),
    ("A 6 mm nodule is present in the right upper lobe.", [("right", "upper")]),
    ("Two small nodules are seen in the right lung middle lobe.", [("right", "middle")]),
    ("A calcified nodule measuring 3.5 mm is noted in the lingula.", [("left", "middle")]),
    ("A part-solid nodule is seen in the upper lobe of the left lung (series 2 image 134).", [("left", "upper")]),
    ("Small nodules are noted in the lower lobes of both lungs.", [("left", "lower"), ("right", "lower")]),
    ("A 5 mm nodule is seen in the right lung upper lobe and the left lung lower lobe.",
     [("right", "upper"), ("left", "lower")]),
    ("A nodule of 7 mm is seen at the apex of the right lung.", [("right", "upper")]),
    ("A subpleural nodule measuring 2.5 mm lies in the superior segment of the lower lobe of the right lung.",
     [("right", "lower")]),
    ("An 8 mm nodule is seen in the middle lobe.", [("right", "middle")]),
]
OTHER_NODULE_SENTENCES = [
    "No nodule is seen in the left lung.", "Tiny nonspecific nodules are present in both lungs.",
    "A thyroid nodule of 9 mm is seen in the right thyroid lobe.", "Reticulonodular densities are seen at the bases.",
    "No nodular lesion was detected in the lungs.", "A nodule in the upper lobe measures 4 mm; follow-up is advised.",
]
BODY_SENTENCES = [
    "The heart size is normal.", "There is no pericardial effusion.", "The trachea and main bronchi are patent.",
    "No pleural effusion is seen on either side.", "Mild degenerative changes are present in the thoracic spine.",
    "The thoracic aorta has a normal calibre.", "No mediastinal lymphadenopathy is identified.",
    "Minimal paraseptal emphysema is noted in both upper lobes.", "The visualised upper abdomen is unremarkable.",
    "No consolidation is observed.", "Linear atelectasis is seen in the right lower lobe.",
    "The esophagus has a normal course.", "Bone structures show no lytic lesion.",
]
IMPRESSIONS = ["No acute finding.", "Mild emphysema.", "Stable appearance compared with the prior study.",
               "Degenerative changes of the spine."]


def invented_corpus(num_patients=20, with_second=10, seed=5):
    """{key: report}: patients p00.., the first ``with_second`` with two reconstructions (_a, _b); even ones
    as CT-RATE-style section objects, odd ones as plain text with two paragraphs."""
    rng = np.random.default_rng(seed)
    corpus = {}
    for p in range(num_patients):
        for letter in ("a", "b")[:2 if p < with_second else 1]:
            findings = [BODY_SENTENCES[i] for i in rng.choice(len(BODY_SENTENCES), 7, replace=False)]
            extra = [TARGET_SENTENCES[int(rng.integers(len(TARGET_SENTENCES)))][0],
                     OTHER_NODULE_SENTENCES[int(rng.integers(len(OTHER_NODULE_SENTENCES)))]]
            for s in extra:
                findings.insert(int(rng.integers(len(findings) + 1)), s)
            impression = [IMPRESSIONS[i] for i in rng.choice(len(IMPRESSIONS), 2, replace=False)]
            if p % 2 == 0:
                value = {"ClinicalInformation_EN": "Cough.", "Technique_EN": "Non-contrast chest CT.",
                         "Findings_EN": " ".join(findings), "Impressions_EN": " ".join(impression)}
            else:
                value = " ".join(findings) + "\n\n" + " ".join(impression)
            corpus[f"p{p:02d}_{letter}"] = value
    return corpus


def test_the_invented_corpus_sentences_parse():
    for sentence, cells in TARGET_SENTENCES:
        assert target_finding(sentence) == cells, sentence
    for sentence in OTHER_NODULE_SENTENCES:
        assert mentions_kind(sentence) and target_finding(sentence) is None, sentence
    assert not any(mentions_kind(s) for s in BODY_SENTENCES + IMPRESSIONS)


@pytest.fixture()
def corpus_file(tmp_path):
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(invented_corpus()))
    return str(path)


def test_corpus_reading_and_patient_split(corpus_file):
    reports = load_report_corpus(corpus_file)
    assert len(reports) == 30 and len({r.patient for r in reports}) == 20
    sectioned = next(r for r in reports if r.key == "p00_a")
    assert [title for title, _ in sectioned.paragraphs] == ["Findings", "Impression"]
    plain = next(r for r in reports if r.key == "p01_a")
    assert [title for title, _ in plain.paragraphs] == [None, None]
    assert patient_of("valid_4_b", re.compile(r"^(.+)_[a-z]+$")) == "valid_4"
    assert patient_of("case-17", re.compile(r"^(.+)_[a-z]+$")) == "case-17"  # no match: its own patient
    train, test = split_patients([r.patient for r in reports], 0.3, seed=1)
    assert len(test) == 6 and len(train) == 14 and not set(train) & set(test)
    assert split_patients([r.patient for r in reports], 0.3, seed=1) == (train, test)
    prose = RealProse.from_file(corpus_file, seed=1)
    train_pool, test_pool = prose.pools
    assert not set(train_pool.patients) & set(test_pool.patients)
    for pool in prose.pools:
        assert {b.patient for b in pool.bodies} <= set(pool.patients)
        assert {t.patient for t in pool.targets} <= set(pool.patients)
        assert len({t.text for t in pool.targets}) == len(pool.targets) >= 1
        for body in pool.bodies:
            assert not any("nodul" in s.lower() for _, ss in body.paragraphs for s in ss)
    assert prose.counts["accepted"] == len({t.text for p in prose.pools for t in p.targets})


def test_positions_cover_every_third(corpus_file):
    pool = RealProse.from_file(corpus_file, seed=0).pools[0]
    thirds = {}
    for i in range(150):
        text, record = draw_report(pool, np.random.default_rng(i))
        units = split_sentences(text)
        hits = [j for j, u in enumerate(units) if "nodul" in u.lower()]
        assert hits == [record["target_index"]] and record["num_sentences"] == len(units)
        thirds[record["third"]] = thirds.get(record["third"], 0) + 1
    assert set(thirds) == {"first", "middle", "last"} and min(thirds.values()) >= 20, thirds


def image_side(patient_side):
    """Radiological convention: the patient's right is on the image's left."""
    return {"right": "left", "left": "right"}[patient_side]


def check_real_dataset(folder, dim):
    reports = json.load(open(os.path.join(folder, "reports.json")))
    meta = json.load(open(os.path.join(folder, "tmca_report_meta.json")))
    tmca = json.load(open(os.path.join(folder, "dataset.json")))["tmca"]
    assert tmca["laterality"] == "patient" and tmca["report_style"] == "real"
    assert tmca["report_axes"] == ({"left_right": 1, "upper_lower": 0} if dim == 2 else
                                   {"left_right": 2, "upper_lower": 0})
    assert set(meta["cases"]) == set(reports)
    patients = {"train": set(), "test": set()}
    for case, report in reports.items():
        record = meta["cases"][case]
        assert record["split"] == ("train" if case.startswith("synth_") else "test")
        patients[record["split"]] |= {record["body_patient"], record["sentence_patient"]}
        units = split_sentences(report)
        hits = [u for u in units if "nodul" in u.lower()]
        assert len(hits) == 1 and units.index(hits[0]) == record["target_index"]
        sentence = hits[0].split(": ", 1)[1] if hits[0].startswith(("Findings: ", "Impression: ")) else hits[0]
        cells = target_finding(sentence)
        assert cells and [list(c) for c in cells] == record["cells"]
        split_dir = "Tr" if record["split"] == "train" else "Ts"
        ending = ".png" if dim == 2 else ".nii.gz"
        mask = read_array(os.path.join(folder, f"labels{split_dir}", case + ending))
        lab, n = ndimage.label(mask > 0)
        found = {cell_of_point(c, mask.shape) for c in ndimage.center_of_mass(mask > 0, lab, range(1, n + 1))}
        assert n == len(cells) and found == {(image_side(s), z) for s, z in cells}, (case, found, cells)
    assert not patients["train"] & patients["test"]
    return meta


def read_array(path):
    if path.endswith(".png"):
        return np.asarray(Image.open(path))
    import SimpleITK as sitk
    return sitk.GetArrayFromImage(sitk.ReadImage(path))


def test_real_dataset_2d(tmp_path, corpus_file):
    folder = make_synthetic_dataset(str(tmp_path / "raw"), 990, num_train=30, num_test=12, size=40, seed=2,
                                    report_style="real", report_corpus=corpus_file)
    meta = check_real_dataset(folder, 2)
    assert meta["splits"]["test"]["patients"] == 6 and meta["laterality"] == "patient"
    assert {r["third"] for r in meta["cases"].values()} == {"first", "middle", "last"}
    image = read_array(os.path.join(folder, "imagesTr", "synth_0000_0000.png"))
    lab, n = ndimage.label(image > 130)
    assert n >= len(meta["cases"]["synth_0000"]["cells"]) + 1  # look-alike distractors beside the targets


def test_real_dataset_3d(tmp_path, corpus_file):
    folder = make_synthetic_dataset(str(tmp_path / "raw"), 991, num_train=3, num_test=2, size=18, dim=3, seed=4,
                                    report_style="real", report_corpus=corpus_file)
    check_real_dataset(folder, 3)


def test_real_dataset_empty_cases(tmp_path, corpus_file):
    folder = make_synthetic_dataset(str(tmp_path / "raw"), 990, num_train=6, num_test=2, size=32, seed=2,
                                    report_style="real", report_corpus=corpus_file, empty_fraction=0.5)
    reports = json.load(open(os.path.join(folder, "reports.json")))
    meta = json.load(open(os.path.join(folder, "tmca_report_meta.json")))["cases"]
    empty = [c for c, r in meta.items() if r["target_index"] is None]
    assert len(empty) == 4
    for case in empty:
        assert "nodul" not in reports[case].lower()
        split = "Tr" if case.startswith("synth_") else "Ts"
        assert not read_array(os.path.join(folder, f"labels{split}", case + ".png")).any()


def test_sample_case_target_cells():
    for i in range(20):
        cells = [("left", "upper"), ("right", "lower")][: 1 + i % 2]
        _, mask, _, meta = sample_case(np.random.default_rng(i), 40, 2, num_lesions=(2, 3), target_cells=cells)
        assert sorted(map(tuple, meta["targets"])) == sorted(cells)
        assert len(meta["lesions"]) >= len(cells) + 1
    with pytest.raises(ValueError, match="target_cells"):
        sample_case(0, 40, 2, target_cells=[("left", "upper"), ("left", "upper")])
    for i in range(5):  # None: the draws of before
        a, b = sample_case(np.random.default_rng(i), 40, 2), sample_case(np.random.default_rng(i), 40, 2,
                                                                          target_cells=None)
        assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2])) and a[2:] == b[2:]


# arrays and reports.json of the short and clinical styles, generated before report_style="real" existed
BEFORE = {"short": "8afcc087aa47eae4228ff755f7837738717f49d71397dc9772be681c868db0c7",
          "clinical": "a3dafde14f189622d118dd275af9a7bda0511726cfe73463df4270b43cdcc330"}


@pytest.mark.parametrize("style", sorted(BEFORE))
def test_old_styles_unchanged(tmp_path, style):
    folder = make_synthetic_dataset(str(tmp_path / style), 990, num_train=12, num_test=5, size=40, seed=3,
                                    typo_rate=0.3, empty_fraction=0.2, report_style=style)
    digest = hashlib.sha256()
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        for name in sorted(os.listdir(os.path.join(folder, sub))):
            digest.update(name.encode())
            digest.update(read_array(os.path.join(folder, sub, name)).tobytes())
    digest.update(open(os.path.join(folder, "reports.json"), "rb").read())
    assert digest.hexdigest() == BEFORE[style]
    assert not os.path.exists(os.path.join(folder, "tmca_report_meta.json"))
    assert "laterality" not in json.load(open(os.path.join(folder, "dataset.json")))["tmca"]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("content,words", [
    ("{not json", ["not valid JSON"]),
    ("[1, 2]", ["must be a non-empty JSON object"]),
    ('{"p1_a": 3}', ["'p1_a'", "not a string"]),
    ('{"p1_a": {"Technique_EN": "CT."}}', ["'p1_a'", "finding"]),
    ('{"p1_a": {"Findings_EN": ["a list"]}}', ["'p1_a'", "'Findings_EN'"]),
    ('{"p1_a": {"Findings_EN": "A.", "findings_short": "B."}}', ["'p1_a'", "keep one"]),
    ('{"p1_a": "   "}', ["'p1_a'", "no text"]),
])
def test_bad_corpus_names_the_file_and_key(tmp_path, content, words):
    path = tmp_path / "bad_corpus.json"
    path.write_text(content)
    with pytest.raises(ReportError) as info:
        load_report_corpus(str(path))
    for word in [str(path)] + words:
        assert word in str(info.value)


def test_pool_too_small_and_options(tmp_path):
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({f"q{i}_a": "The heart size is normal. No pleural effusion." for i in range(5)}))
    with pytest.raises(ValueError, match="no nodule sentences"):
        make_synthetic_dataset(str(tmp_path / "raw"), 990, num_train=2, num_test=1, size=32,
                               report_style="real", report_corpus=str(path))
    with pytest.raises(ValueError, match="needs a report_corpus"):
        make_synthetic_dataset(str(tmp_path / "raw"), 990, num_train=2, num_test=1, size=32, report_style="real")
    with pytest.raises(ValueError, match="test_fraction"):
        split_patients(["a", "b"], 1.0, 0)
    assert not os.path.exists(tmp_path / "raw" / "Dataset990_TMCASynthetic")


def test_cli_real(tmp_path, corpus_file, capsys):
    with pytest.raises(SystemExit):
        cli.main(["-o", str(tmp_path), "--report_style", "real"])
    assert "--report_corpus" in capsys.readouterr().err
    missing = str(tmp_path / "missing.json")
    with pytest.raises(SystemExit) as info:
        cli.main(["-o", str(tmp_path), "--report_style", "real", "--report_corpus", missing])
    assert info.value.code == 1 and missing in capsys.readouterr().err
    cli.main(["-o", str(tmp_path), "--report_style", "real", "--report_corpus", corpus_file, "--num_train", "4",
              "--num_test", "2", "--size", "32", "--test_fraction", "0.25", "--patient_pattern", r"^(p\d+)_"])
    meta = json.load(open(tmp_path / "Dataset990_TMCASynthetic" / "tmca_report_meta.json"))
    assert meta["splits"]["test"]["patients"] == 5 and meta["patient_pattern"] == r"^(p\d+)_"
