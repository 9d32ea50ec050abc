"""Tests for the clinical report style of the synthetic generator (``--report_style clinical``)."""
import hashlib
import json
import os
import re
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage

from nnunetv2_tmca.mirroring.words import mirror_report
from nnunetv2_tmca.synthetic import cli
from nnunetv2_tmca.synthetic.clinical import render_clinical_report
from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset
from nnunetv2_tmca.synthetic.images import sample_case

# ----------------------------------------------------------------------------- the test's own parser
TYPO_FIX = {"rigth": "right", "lfet": "left", "uper": "upper", "lowwer": "lower", "midle": "middle",
            "nodlue": "nodule", "nodlues": "nodules", "fcous": "focus", "opacty": "opacity", "opacites": "opacities",
            "lesoin": "lesion"}
MERGED = re.compile(r"\b(upper|middle|lower|left|right)(upper|middle|lower|left|right)\b")
SIDE_ZONE = re.compile(r"\b(left|right) (upper|mid|middle|lower)\b")
ZONE_OF_SIDE = re.compile(r"\b(upper|mid|middle|lower) zone of the (left|right) lung\b")
HEADER = re.compile(r"^(examination|indication|comparison|findings|impression): ", re.IGNORECASE | re.MULTILINE)
TARGET_WORD = re.compile(r"\bnodul")
NEGATED = re.compile(r"^no\b|\bis (clear|unremarkable)\b")
BRIGHT = 130


def normalize(text):
    t = re.sub(r"[a-z]+", lambda m: TYPO_FIX.get(m.group(), m.group()), text.lower())
    return MERGED.sub(r"\1 \2", t)


def cells_in(text):
    """The (side, zone) cells a sentence names, in its order."""
    t = normalize(text)
    found = [(m.start(), m.group(1), m.group(2)) for m in SIDE_ZONE.finditer(t)]
    found += [(m.start(), m.group(2), m.group(1)) for m in ZONE_OF_SIDE.finditer(t)]
    return [(side, "middle" if zone == "mid" else zone) for _, side, zone in sorted(found)]


def sections_of(text):
    """{SECTION: body} and the section order, from the report text alone."""
    heads = list(HEADER.finditer(text))
    bodies = {m.group(1).upper(): text[m.end():(heads[i + 1].start() if i + 1 < len(heads) else len(text))].strip()
              for i, m in enumerate(heads)}
    return bodies, [m.group(1).upper() for m in heads]


def cell_of(point, shape):
    return ("left", "right")[min(1, int(point[-1] * 2 // shape[-1]))], \
        ("upper", "middle", "lower")[min(2, int(point[0] * 3 // shape[0]))]


def component_cells(binary):
    lab, n = ndimage.label(binary)
    return [cell_of(c, binary.shape) for c in ndimage.center_of_mass(binary, lab, range(1, n + 1))]


def clinical_case(seed, size=32, dim=2, empty=False, typo_rate=0.0, num_lesions=(4, 5)):
    rng = np.random.default_rng(seed)
    image, mask, _, meta = sample_case(rng, size, dim, num_lesions=num_lesions, empty=empty, typo_rate=0.0)
    text, records = render_clinical_report(meta["lesions"], rng, dim, typo_rate)
    return image, mask, meta, text, records


def check_report(text, records, meta):
    """The report against its lesions, from the text (the records only say which sentence is which)."""
    targets = {tuple(t) for t in meta["targets"]}
    lesions = {(lesion["side"], lesion["zone"]) for lesion in meta["lesions"]}
    bodies, order = sections_of(text)
    assert order[0] == "EXAMINATION" and len(order) == len(set(order))
    assert {"EXAMINATION", "INDICATION", "FINDINGS", "IMPRESSION"} <= set(order) <= set(syn_sections())
    assert len(text.split()) >= 80
    pos = 0
    for r in records:  # the records are the text's sentences, in order
        pos = text.index(r["text"], pos)
        assert r["text"] in bodies[r["section"]]
        assert cells_in(r["text"]) == [tuple(c) for c in r["cells"]], r
    findings = re.split(r"(?<=\.)\s+", bodies["FINDINGS"])
    assert findings == [r["text"] for r in records if r["section"] == "FINDINGS"]
    stated = [s for s in findings
              if TARGET_WORD.search(normalize(s)) and cells_in(s) and not NEGATED.search(normalize(s))]
    if targets:  # stated once, with its cells, at a random place
        assert len(stated) == 1 and set(cells_in(stated[0])) == targets, (stated, targets)
        assert len(cells_in(stated[0])) == len(targets)
    else:
        assert not stated and re.search(r"\bno\b.*\bnodul", bodies["IMPRESSION"].lower())
    distractors = [r for r in records if r["role"] == "distractor"]
    assert sorted(tuple(r["cells"][0]) for r in distractors) == sorted(lesions - targets)
    assert len({r["kind"] for r in distractors}) == len(distractors)
    assert not any(TARGET_WORD.search(r["text"].lower()) for r in distractors)
    for r in records:
        if r["role"] == "negation":
            assert not set(cells_in(r["text"])) & lesions, r  # only lesion-free cells, never a target
        if "costophrenic" in r["text"]:
            side = "left" if " left " in normalize(r["text"]) else "right"
            assert (side, "lower") not in targets
        if r["role"] == "target_repeat":
            assert set(cells_in(r["text"])) == targets and r["section"] == "IMPRESSION"
        if r["role"] in ("boilerplate", "examination", "indication", "comparison", "filler", "target_mention"):
            assert not cells_in(r["text"])
    return findings.index(stated[0]) / max(1, len(findings) - 1) if stated else None


def syn_sections():
    return ("EXAMINATION", "INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")


# ----------------------------------------------------------------------------- tests
def test_short_style_is_unchanged(tmp_path):
    """The default style writes byte for byte the reports of before; the images do not depend on the style."""
    kw = dict(num_train=8, num_test=4, size=32, seed=11, typo_rate=0.3, empty_fraction=0.25)
    files = {}
    for style in (None, "short", "clinical"):
        extra = {} if style is None else {"report_style": style}
        folder = make_synthetic_dataset(str(tmp_path / str(style)), 990, **kw, **extra)
        files[style] = {os.path.relpath(os.path.join(r, f), folder): open(os.path.join(r, f), "rb").read()
                        for r, _, fs in os.walk(folder) for f in fs}
    expected = "4dee1e6c36000469b66d4167b0f7b0a89e12ca023d0913dd935f31b71b19675f"  # reports.json before the style flag
    assert hashlib.sha256(files[None]["reports.json"]).hexdigest() == expected
    assert files[None] == files["short"]
    assert "report_style" not in json.loads(files["short"]["dataset.json"])["tmca"]
    assert json.loads(files["clinical"]["dataset.json"])["tmca"]["report_style"] == "clinical"
    for name, data in files["short"].items():
        if name.startswith(("images", "labels")):
            assert files["clinical"][name] == data, name
    short, clinical = (json.loads(files[s]["reports.json"]) for s in ("short", "clinical"))
    assert short.keys() == clinical.keys() and all(len(clinical[k].split()) >= 80 for k in clinical)


def test_clinical_reports_follow_the_lesions():
    orders, positions, comparison, patterns, sentences = Counter(), [], 0, set(), []
    for i in range(150):
        _, _, meta, text, records = clinical_case([3, i], empty=(i % 6 == 5), num_lesions=(4, 6))
        position = check_report(text, records, meta)
        if position is not None:
            positions.append(position)
        order = tuple(sections_of(text)[1])
        orders[order] += 1
        comparison += "COMPARISON" in order
        target = [r["text"] for r in records if r["role"] == "target"]
        if target:
            patterns.add(re.sub(r"\d+|\b(left|right|upper|mid|middle|lower|two|three)\b", "", target[0]))
        sentences += [r["text"] for r in records]
    assert len(orders) >= 4 and 20 < comparison < 140
    assert min(positions) == 0.0 and max(positions) == 1.0 and 0.3 < np.mean(positions) < 0.7
    assert len(patterns) >= 15
    # boilerplate repeats across the corpus: few unique sentences
    assert len(set(sentences)) < 0.4 * len(sentences), len(set(sentences)) / len(sentences)
    counts = Counter(r for r in sentences)
    assert counts.most_common(1)[0][1] >= 30


def test_clinical_3d_and_determinism():
    for i in range(12):
        _, _, meta, text, records = clinical_case([4, i], size=24, dim=3, empty=(i == 11))
        check_report(text, records, meta)
        assert re.search(r"\bCT\b", sections_of(text)[0]["EXAMINATION"])
    lesions = clinical_case([4, 0])[2]["lesions"]
    assert render_clinical_report(lesions, 5) == render_clinical_report(lesions, 5)
    assert render_clinical_report(lesions, 5)[0] != render_clinical_report(lesions, 6)[0]
    with pytest.raises(ValueError):
        render_clinical_report(lesions, 5, dim=4)


def test_typos_keep_the_report_readable():
    n_typo = 0
    for i in range(40):
        _, _, meta, text, records = clinical_case([5, i], typo_rate=1.0)
        typos = [r for r in records if r.get("typo")]
        assert len(typos) == 1
        n_typo += normalize(typos[0]["text"]) != typos[0]["text"].lower()
        check_report(text, records, meta)
    assert n_typo >= 30


@pytest.mark.parametrize("groups,axes", [(["left_right"], (-1,)), (["upper_lower"], (0,)),
                                         (["left_right", "upper_lower"], (0, -1))])
def test_mirrored_report_describes_the_mirrored_image(groups, axes):
    """mirror_report(report) names the cells of the mirrored image: targets, distractors and negations."""
    for i in range(25):
        dim = 3 if i % 5 == 4 else 2
        image, mask, meta, text, records = clinical_case([6, i], size=48 if dim == 2 else 24, dim=dim,
                                                         empty=(i % 7 == 6), typo_rate=0.3)
        image, mask, mirrored = np.flip(image, axes), np.flip(mask, axes), mirror_report(text, groups)
        target_cells = set(component_cells(mask > 0))
        lesion_cells = set(component_cells(image > BRIGHT))
        assert len(lesion_cells) == len(meta["lesions"])
        for r in records:
            sentence = mirror_report(r["text"], groups)
            assert sentence in mirrored
            cells = set(cells_in(sentence))
            if r["role"] in ("target", "target_repeat"):
                assert cells == target_cells, (i, groups)
            elif r["role"] == "distractor":
                assert len(cells) == 1 and cells <= lesion_cells - target_cells
            elif r["role"] == "negation":
                assert cells and not cells & lesion_cells
        assert bool(target_cells) == any(r["role"] == "target" for r in records)
        if not any(r.get("typo") for r in records):
            assert mirror_report(mirrored, groups) == text


def test_cli_clinical(tmp_path, capsys):
    """A valid raw dataset (images and labels are the short style's, checked above; the reports cover all cases)."""
    from nnunetv2_tmca.reports import load_dataset_reports

    cli.main(["-d", "996", "-o", str(tmp_path), "--num_train", "4", "--num_test", "2", "--size", "32",
              "--report_style", "clinical", "--empty_fraction", "0.25"])
    out = capsys.readouterr().out
    folder = os.path.join(str(tmp_path), "Dataset996_TMCASynthetic")
    assert folder in out and "clinical reports" in out
    assert sorted(os.listdir(os.path.join(folder, "imagesTr"))) == [f"synth_{i:04d}_0000.png" for i in range(4)]
    assert sorted(os.listdir(os.path.join(folder, "labelsTs"))) == [f"synthts_{i:04d}.png" for i in range(2)]
    reports = load_dataset_reports(folder, logger=lambda *_: None)
    assert len(reports) == 6
    for text in reports.values():
        assert text not in out and "FINDINGS" in text.upper() and len(text.split()) >= 80
        assert not any(line in out for line in text.splitlines())
    assert json.load(open(os.path.join(folder, "dataset.json")))["tmca"]["report_style"] == "clinical"
    with pytest.raises(SystemExit) as e:
        cli.main(["-d", "997", "-o", str(tmp_path), "--report_style", "long"])
    assert e.value.code == 2
    with pytest.raises(ValueError, match="report_style"):
        make_synthetic_dataset(str(tmp_path), 998, report_style="long")
