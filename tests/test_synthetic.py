"""Tests for nnunetv2_tmca.synthetic (the report decides the target)."""
import json
import os
import re

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.synthetic import cli
from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset
from nnunetv2_tmca.synthetic.images import sample_case
from nnunetv2_tmca.synthetic.reports import render_report

# ----------------------------------------------------------------------------- report parser
# The test's own knowledge of the report vocabulary (kept independent of the module on purpose).
TYPO_FIX = {"rigth": "right", "lfet": "left", "uper": "upper", "lowwer": "lower", "midle": "middle",
            "lesoin": "lesion", "lesoins": "lesions", "nodlue": "nodule", "nodlues": "nodules",
            "opacty": "opacity", "opacites": "opacities", "fcous": "focus"}
MERGED_RE = re.compile(r"\b(?:(upper|middle|lower)(left|right)|(left|right)(upper|middle|lower))\b")
PAIR_RE = re.compile(r"\b(?:(upper|middle|lower) (left|right)|(left|right) (upper|middle|lower))\b")
COUNT_RE = re.compile(r"\b(one|two|three|four|five|single|solitary|\d+)\b")
COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "single": 1, "solitary": 1}
NOUN_RE = re.compile(r"\b(lesions?|opacity|opacities|nodules?|focus|foci)\b")


def normalize(text):
    t = text.lower()
    t = re.sub(r"[a-z]+", lambda m: TYPO_FIX.get(m.group(0), m.group(0)), t)
    t = MERGED_RE.sub(lambda m: " ".join(g for g in m.groups() if g), t)
    return t


def has_typo(text):
    t = text.lower()
    return any(w in TYPO_FIX for w in re.findall(r"[a-z]+", t)) or MERGED_RE.search(t) is not None


def parse_report(text):
    """-> (count, set of (side, zone)). count 0 for 'no lesion' reports."""
    t = normalize(text)
    assert NOUN_RE.search(t), f"no lesion noun in report {text!r}"
    if re.search(r"\bno\b", t):
        return 0, set()
    cells = []
    for m in PAIR_RE.finditer(t):
        if m.group(1):
            cells.append((m.group(2), m.group(1)))
        else:
            cells.append((m.group(3), m.group(4)))
    assert len(cells) == len(set(cells)), f"zone named twice in {text!r}"
    counts = COUNT_RE.findall(t)
    assert len(counts) >= 1, f"no count word in {text!r}"
    values = {int(c) if c.isdigit() else COUNT_WORDS[c] for c in counts}
    assert len(values) == 1, f"inconsistent counts in {text!r}"
    return values.pop(), set(cells)


def cell_of(point, shape):
    zone = ("upper", "middle", "lower")[min(2, int(point[0] * 3 // shape[0]))]
    side = ("left", "right")[min(1, int(point[-1] * 2 // shape[-1]))]
    return side, zone


def check_mask_matches_report(mask, report):
    """Components of the mask <-> zones and count named by the report."""
    count, cells = parse_report(report)
    lab, n = ndimage.label(mask > 0)
    assert n == count == len(cells), (report, n, count, cells)
    found = set()
    for c in ndimage.center_of_mass(mask > 0, lab, range(1, n + 1)):
        cell = cell_of(c, mask.shape)
        assert cell in cells, f"component at {c} ({cell}) not named in {report!r}"
        found.add(cell)
    assert found == cells, (report, found)


def blob(meta_lesion, shape):
    grid = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    dn = np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grid, meta_lesion["center"], meta_lesion["radii"])))
    return dn <= 1.0


BRIGHT = 130  # background stays well below, lesion centres well above


def check_case(image, mask, report, meta):
    shape = image.shape
    assert image.dtype == np.uint8 and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) <= {0, 1}
    # mask == union of the target blobs, and blobs stay inside their cells
    union = np.zeros(shape, dtype=bool)
    for les in meta["lesions"]:
        b = blob(les, shape)
        coords = np.argwhere(b)
        assert {cell_of(p, shape) for p in coords} == {(les["side"], les["zone"])}
        if les["target"]:
            union |= b
    np.testing.assert_array_equal(mask.astype(bool), union)
    assert sorted(map(tuple, meta["targets"])) == \
        sorted((lesion["side"], lesion["zone"]) for lesion in meta["lesions"] if lesion["target"])
    check_mask_matches_report(mask, report)
    # every lesion is a bright spot in the image; the distractors lie outside the mask
    lab, n_bright = ndimage.label(image > BRIGHT)
    assert n_bright == len(meta["lesions"])
    outside = [i for i in range(1, n_bright + 1) if not mask[lab == i].any()]
    n_targets = sum(lesion["target"] for lesion in meta["lesions"])
    assert len(outside) == len(meta["lesions"]) - n_targets >= 1
    for les in meta["lesions"]:
        c = tuple(int(round(x)) for x in les["center"])
        assert image[c] > BRIGHT
        assert mask[c] == (1 if les["target"] else 0)


# ----------------------------------------------------------------------------- sample_case / render_report
@pytest.mark.parametrize("dim,size,n", [(2, 64, 60), (2, (48, 80), 10), (3, 32, 15)])
def test_sample_case_mask_report_and_distractors(dim, size, n):
    rng = np.random.default_rng(123)
    for i in range(n):
        image, mask, report, meta = sample_case(rng, size, dim, typo_rate=0.3, empty=(i % 7 == 6))
        exp_shape = (size,) * dim if isinstance(size, int) else tuple(size)
        assert image.shape == mask.shape == exp_shape
        assert 4 <= len(meta["lesions"]) <= 5
        k = int(mask.any() and ndimage.label(mask)[1])
        assert (k == 0) == (i % 7 == 6) and k <= 3
        if k == 0:
            assert parse_report(report) == (0, set())
            assert len(meta["lesions"]) >= 4 and not any(lesion["target"] for lesion in meta["lesions"])
            continue
        check_case(image, mask, report, meta)


def test_targets_look_like_distractors():
    """Target and distractor lesions come from the same appearance distribution."""
    rng = np.random.default_rng(7)
    stats = {True: {"mean": [], "area": []}, False: {"mean": [], "area": []}}
    for _ in range(150):
        image, mask, report, meta = sample_case(rng, 64, 2, typo_rate=0.0)
        for les in meta["lesions"]:
            b = blob(les, image.shape)
            stats[les["target"]]["mean"].append(image[b].mean())
            stats[les["target"]]["area"].append(b.sum())
    for key, tol in (("mean", 3.0), ("area", 4.0)):
        t, d = np.mean(stats[True][key]), np.mean(stats[False][key])
        assert abs(t - d) < tol, (key, t, d)
    areas = np.array(stats[True]["area"] + stats[False]["area"])
    r_equiv = np.sqrt(areas / np.pi)
    assert 2.5 < r_equiv.min() and r_equiv.max() < 7.0  # radius ~3-6 px at 64x64


def test_render_report_vocabulary_and_validation():
    rng = np.random.default_rng(0)
    cells = [(s, z) for s in ("left", "right") for z in ("upper", "middle", "lower")]
    texts = []
    for _ in range(400):
        k = int(rng.integers(1, 4))
        targets = [cells[i] for i in rng.choice(6, k, replace=False)]
        text = render_report(targets, rng, 0.0)
        assert not has_typo(text)
        assert parse_report(text) == (k, set(targets)), text
        texts.append(text)
    joined = " ".join(texts).lower()
    for word in ("lesion", "opacit", "nodule", "focus", "foci", "one", "two", "three", "single", "bilateral"):
        assert word in joined, word
    assert re.search(r"\b[123]\b", joined)  # digits too
    assert re.search(r"\b(upper|middle|lower) (left|right)\b", joined)
    assert re.search(r"\b(left|right) (upper|middle|lower)\b", joined)  # both word orders
    # at least 6 different sentence patterns (texts with zones/counts/nouns/adjectives masked out)
    patterns = set()
    for t in texts:
        t = PAIR_RE.sub("ZZ", t.lower())
        t = re.sub(r"ZZ((, | and )ZZ)*", "ZZ", t)
        t = NOUN_RE.sub("NN", COUNT_RE.sub("CC", t))
        t = re.sub(r"\b(zones?|regions?|small|round|well-defined|bright|a|is|are|left-sided|right-sided|bilateral)\b",
                   "", t)
        patterns.add(re.sub(r"\s+", " ", t).strip())
    assert len(patterns) >= 6, patterns
    empty = {render_report([], rng, 0.0) for _ in range(50)}
    assert len(empty) >= 3 and all(parse_report(t) == (0, set()) for t in empty)
    with pytest.raises(ValueError):
        render_report([("center", "upper")], rng, 0.0)
    with pytest.raises(ValueError):
        render_report([("left", "upper"), ("left", "upper")], rng, 0.0)


def test_typo_rate():
    rng = np.random.default_rng(42)
    for rate, lo, hi in ((0.0, 0, 0), (0.05, 2, 22), (0.5, 70, 130), (1.0, 200, 200)):
        n_typo = 0
        for _ in range(200):
            _, mask, report, meta = sample_case(rng, 32, 2, typo_rate=rate, empty=bool(rng.random() < 0.1))
            assert has_typo(report) == meta["typo"], report
            n_typo += has_typo(report)
            if rate == 1.0:  # still unambiguous: parses to the truth
                assert parse_report(report) == (len(meta["targets"]), set(map(tuple, meta["targets"]))), report
        assert lo <= n_typo <= hi, (rate, n_typo)


# ----------------------------------------------------------------------------- make_synthetic_dataset
def _read_2d(path):
    return np.array(Image.open(path))


def _read_3d(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(path))


def _files_and_reports(folder):
    """{relative path: bytes} of everything in the dataset folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def test_2d_dataset_consistent_and_verified(tmp_path):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    folder = make_synthetic_dataset(str(tmp_path), 990, num_train=6, num_test=3, seed=3, typo_rate=0.3)
    assert folder == os.path.join(str(tmp_path), "Dataset990_TMCASynthetic")
    assert sorted(os.listdir(folder)) == ["dataset.json", "imagesTr", "imagesTs", "labelsTr", "labelsTs",
                                          "reports.json"]
    dj = json.load(open(os.path.join(folder, "dataset.json")))
    assert dj["channel_names"] == {"0": "synthetic"}
    assert dj["labels"] == {"background": 0, "lesion": 1}
    assert dj["numTraining"] == 6 and dj["file_ending"] == ".png"
    assert dj["tmca"]["report_axes"] == {"left_right": 1, "upper_lower": 0}
    assert isinstance(dj["tmca"]["description"], str) and dj["tmca"]["description"]
    tr = [f"synth_{i:04d}" for i in range(6)]
    ts = [f"synthts_{i:04d}" for i in range(3)]
    assert sorted(os.listdir(os.path.join(folder, "imagesTr"))) == [f"{c}_0000.png" for c in tr]
    assert sorted(os.listdir(os.path.join(folder, "labelsTr"))) == [f"{c}.png" for c in tr]
    assert sorted(os.listdir(os.path.join(folder, "imagesTs"))) == [f"{c}_0000.png" for c in ts]
    assert sorted(os.listdir(os.path.join(folder, "labelsTs"))) == [f"{c}.png" for c in ts]
    reports = json.load(open(os.path.join(folder, "reports.json")))
    assert sorted(reports) == sorted(tr + ts)
    assert not [f for f in os.listdir(str(tmp_path)) if f.startswith(".")]  # no temp leftovers

    verify_dataset_integrity(folder, num_processes=1)

    io = NaturalImage2DIO()
    for split, cases in (("Tr", tr), ("Ts", ts)):
        for c in cases:
            img, _ = io.read_images([os.path.join(folder, f"images{split}", f"{c}_0000.png")])
            seg, _ = io.read_seg(os.path.join(folder, f"labels{split}", f"{c}.png"))
            assert img.shape == seg.shape == (1, 1, 64, 64)
            mask = seg[0, 0].astype(np.uint8)
            assert set(np.unique(mask).tolist()) <= {0, 1}
            check_mask_matches_report(mask, reports[c])
            image = img[0, 0]
            lab, n = ndimage.label(image > BRIGHT)
            assert n >= 4 and n - ndimage.label(mask)[1] >= 1  # distractors outside the mask


def test_3d_dataset(tmp_path):
    folder = make_synthetic_dataset(str(tmp_path), 991, name="Synth3D", num_train=3, num_test=2, size=32,
                                        dim=3, seed=1)
    assert os.path.basename(folder) == "Dataset991_Synth3D"
    dj = json.load(open(os.path.join(folder, "dataset.json")))
    assert dj["file_ending"] == ".nii.gz" and dj["numTraining"] == 3
    assert dj["tmca"]["report_axes"] == {"left_right": 2, "upper_lower": 0}
    reports = json.load(open(os.path.join(folder, "reports.json")))
    assert sorted(reports) == ["synth_0000", "synth_0001", "synth_0002", "synthts_0000", "synthts_0001"]
    for split, prefix, n in (("Tr", "synth_", 3), ("Ts", "synthts_", 2)):
        assert sorted(os.listdir(os.path.join(folder, f"images{split}"))) == \
            [f"{prefix}{i:04d}_0000.nii.gz" for i in range(n)]
        assert sorted(os.listdir(os.path.join(folder, f"labels{split}"))) == \
            [f"{prefix}{i:04d}.nii.gz" for i in range(n)]
        for i in range(n):
            c = f"{prefix}{i:04d}"
            itk = sitk.ReadImage(os.path.join(folder, f"images{split}", f"{c}_0000.nii.gz"))
            assert itk.GetSpacing() == (1.0, 1.0, 1.0)
            image = sitk.GetArrayFromImage(itk)
            mask = _read_3d(os.path.join(folder, f"labels{split}", f"{c}.nii.gz"))
            assert image.shape == mask.shape == (32, 32, 32)
            assert set(np.unique(mask).tolist()) <= {0, 1}
            check_mask_matches_report(mask, reports[c])
            assert ndimage.label(image > BRIGHT)[1] - ndimage.label(mask)[1] >= 1


def test_determinism_and_seed(tmp_path):
    kw = dict(num_train=3, num_test=2, size=32)
    a = _files_and_reports(make_synthetic_dataset(str(tmp_path / "a"), 990, seed=5, **kw))
    b = _files_and_reports(make_synthetic_dataset(str(tmp_path / "b"), 990, seed=5, **kw))
    c = _files_and_reports(make_synthetic_dataset(str(tmp_path / "c"), 990, seed=6, **kw))
    assert a == b
    assert a.keys() == c.keys()
    assert a["reports.json"] != c["reports.json"]
    assert a[os.path.join("imagesTr", "synth_0000_0000.png")] != c[os.path.join("imagesTr", "synth_0000_0000.png")]
    # a training case does not depend on the number of test cases
    d = _files_and_reports(make_synthetic_dataset(str(tmp_path / "d"), 990, seed=5, num_train=3, num_test=0,
                                                      size=32))
    for k in d:
        if k.startswith("imagesTr") or k.startswith("labelsTr"):
            assert d[k] == a[k]
    # sample_case is deterministic given the generator state
    r1 = sample_case(np.random.default_rng(9), 64, 2)
    r2 = sample_case(np.random.default_rng(9), 64, 2)
    np.testing.assert_array_equal(r1[0], r2[0])
    np.testing.assert_array_equal(r1[1], r2[1])
    assert r1[2] == r2[2] and r1[3] == r2[3]


def test_overwrite_protection(tmp_path):
    folder = make_synthetic_dataset(str(tmp_path), 990, num_train=3, num_test=1, size=32)
    with pytest.raises(ConversionError, match="Dataset990_TMCASynthetic"):
        make_synthetic_dataset(str(tmp_path), 990, num_train=3, num_test=1, size=32)
    # overwrite replaces the folder completely (no stale cases left over)
    folder2 = make_synthetic_dataset(str(tmp_path), 990, num_train=2, num_test=0, size=32, overwrite=True)
    assert folder2 == folder
    assert sorted(os.listdir(os.path.join(folder, "imagesTr"))) == ["synth_0000_0000.png", "synth_0001_0000.png"]
    assert sorted(json.load(open(os.path.join(folder, "reports.json")))) == ["synth_0000", "synth_0001"]
    assert json.load(open(os.path.join(folder, "dataset.json")))["numTraining"] == 2
    # the same id under another name would make the id ambiguous for nnU-Net
    with pytest.raises(ConversionError, match="Dataset990_TMCASynthetic"):
        make_synthetic_dataset(str(tmp_path), 990, name="Other", num_train=2, num_test=0, size=32, overwrite=True)
    assert not os.path.exists(os.path.join(str(tmp_path), "Dataset990_Other"))


def test_empty_fraction(tmp_path):
    folder = make_synthetic_dataset(str(tmp_path), 992, num_train=8, num_test=4, size=32, empty_fraction=0.5,
                                        seed=2)
    reports = json.load(open(os.path.join(folder, "reports.json")))
    n_empty = {"Tr": 0, "Ts": 0}
    for split, prefix, n in (("Tr", "synth_", 8), ("Ts", "synthts_", 4)):
        for i in range(n):
            c = f"{prefix}{i:04d}"
            mask = _read_2d(os.path.join(folder, f"labels{split}", f"{c}.png"))
            image = _read_2d(os.path.join(folder, f"images{split}", f"{c}_0000.png"))
            check_mask_matches_report(mask, reports[c])
            assert ndimage.label(image > BRIGHT)[1] >= 4  # lesions are still there
            n_empty[split] += int(not mask.any())
    assert n_empty == {"Tr": 4, "Ts": 2}


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_synthetic_dataset(str(tmp_path), 990, dim=4)
    with pytest.raises(ValueError):
        make_synthetic_dataset(str(tmp_path), 990, num_lesions=(4, 7))
    with pytest.raises(ValueError):
        make_synthetic_dataset(str(tmp_path), 990, size=8)
    assert os.listdir(str(tmp_path)) == []


def test_cli(tmp_path, monkeypatch, capsys):
    cli.main(["-d", "993", "-o", str(tmp_path), "--num_train", "2", "--num_test", "1", "--size", "32",
              "--seed", "4"])
    out = capsys.readouterr().out
    folder = os.path.join(str(tmp_path), "Dataset993_TMCASynthetic")
    assert folder in out and "2 training" in out and "1 test" in out
    reports = json.load(open(os.path.join(folder, "reports.json")))
    for text in reports.values():
        assert text not in out  # never print report texts
    # default output folder: $nnUNet_raw; refuses to overwrite without --overwrite
    monkeypatch.setenv("nnUNet_raw", str(tmp_path))
    with pytest.raises(SystemExit) as e:
        cli.main(["-d", "993", "--num_train", "2", "--num_test", "1", "--size", "32"])
    assert e.value.code != 0
    assert "Dataset993_TMCASynthetic" in capsys.readouterr().err
    cli.main(["-d", "993", "--num_train", "2", "--num_test", "0", "--dim", "3", "--overwrite"])
    assert json.load(open(os.path.join(folder, "dataset.json")))["file_ending"] == ".nii.gz"


def test_cli_lesion_counts(tmp_path, capsys):
    """--num_lesions 6 6 fills all six cells (each report names 1-3 of them); 7 is refused with exit 1."""
    cli.main(["-d", "994", "-o", str(tmp_path), "--num_train", "3", "--num_test", "0", "--size", "48",
              "--num_lesions", "6", "6", "--num_targets", "1", "1", "--typo_rate", "0"])
    folder = os.path.join(str(tmp_path), "Dataset994_TMCASynthetic")
    reports = json.load(open(os.path.join(folder, "reports.json")))
    for i in range(3):  # the same stream as the CLI's case i: six lesions, one target
        _, _, report, meta = sample_case(np.random.default_rng([0, 0, i]), 48, 2, (6, 6), (1, 1), typo_rate=0.0)
        assert len(meta["lesions"]) == 6 and len(meta["targets"]) == 1 and reports[f"synth_{i:04d}"] == report
    with pytest.raises(SystemExit) as e:
        cli.main(["-d", "995", "-o", str(tmp_path), "--num_train", "2", "--num_lesions", "7", "7"])
    assert e.value.code == 1 and "num_lesions" in capsys.readouterr().err
