"""Clinical-style reports of the synthetic dataset (``--report_style clinical``).

A report has the sections EXAMINATION, INDICATION, COMPARISON (not always), FINDINGS and
IMPRESSION, the middle ones in varying order, 80+ words. FINDINGS states the target
(:data:`TARGET_KIND`, the lesions of the mask) once, at a random position, with its cells and
sizes; names each look-alike distractor as a different finding kind at its own cell; negates
some lesion-free cells; and adds boilerplate from a pool shared by the corpus. IMPRESSION
sometimes restates the target; a case without target gets "No nodule." style impressions.

Places are named only with side (left / right) and zone (upper / mid / middle / lower) words,
so :func:`nnunetv2_tmca.mirroring.words.mirror_report` turns a report into the report of the
mirrored image. :func:`render_clinical_report` returns the text and one record per sentence
(section, role, kind, cells, text) for parsers and tests.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

from nnunetv2_tmca.synthetic.reports import CELLS, apply_typo, as_rng, join_and, pick, upper_first

TARGET_KIND = "nodule"
MIN_WORDS = 80
SECTIONS = ("EXAMINATION", "INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")

# ----------------------------------------------------------------------------- vocabulary
EXAMINATIONS = {2: ("Chest radiograph, PA view.", "Chest X-ray, PA and lateral views.", "Frontal chest radiograph.",
                    "Portable chest radiograph, single frontal view."),
                3: ("CT of the chest without contrast.", "Low-dose CT of the chest.", "CT thorax with contrast.",
                    "CT chest, thin-section reconstructions.")}
COMPLAINTS = ("cough", "shortness of breath", "chest pain", "fever and cough", "follow-up of a pulmonary nodule",
              "smoker, screening for nodules", "weight loss", "known malignancy, staging", "preoperative assessment",
              "haemoptysis", "persistent cough after a respiratory infection")
PRIOR_STUDY = {2: "chest radiograph", 3: "CT"}

TARGET_NOUNS = (("nodule", "nodules"), ("pulmonary nodule", "pulmonary nodules"),
                ("nodular opacity", "nodular opacities"), ("rounded nodule", "rounded nodules"),
                ("solid nodule", "solid nodules"))
TARGET_ONE = ("There is {a_size} {noun} in {cells}.", "{A_size} {noun} is seen in {cells}.",
              "In {cells}, there is {a_size} {noun}.", "{A_size} {noun} projects over {cells}.",
              "{Noun} measuring {size} in {cells}.", "{Cells} contains {a_size} well-circumscribed {noun}.")
TARGET_MANY = ("There are {num} {nouns} in {cells}, measuring up to {size}.",
               "{Num} {nouns} are seen in {cells} ({sizes}).", "{Nouns} in {cells}, the largest {size}.",
               "In {cells}, there are {num} well-circumscribed {nouns}.")
REPEATS = ("{Count} {noun} in {cells}.", "{Count} {noun} in {cells}; CT follow-up is recommended.",
           "{Count} {noun} in {cells}, suspicious; further evaluation advised.")
MENTIONS = ("{Noun} as described above.", "{Noun} as described; recommend CT follow-up.",
            "{Noun} as above; correlate clinically.")
NO_TARGET = ("No nodule.", "No pulmonary nodule.", "No suspicious nodule identified.",
             "No evidence of a pulmonary nodule.", "No nodule is seen.")
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# distractor kinds: (kind, noun phrases); a case uses each kind at most once
DISTRACTORS = (
    ("granuloma", ("a calcified granuloma", "a small calcified granuloma", "a granuloma")),
    ("atelectasis", ("plate-like atelectasis", "subsegmental atelectasis", "a band of discoid atelectasis")),
    ("scar", ("a linear scar", "a small area of scarring", "a focal parenchymal scar")),
    ("bulla", ("a small bulla", "a thin-walled bulla")),
    ("calcification", ("a punctate calcification", "a calcified focus")),
    ("pleural plaque", ("a calcified pleural plaque", "a pleural plaque")),
    ("rib fracture", ("an old healed rib fracture", "a healed rib fracture")),
    ("lymph node", ("a calcified lymph node", "a small calcified node")),
    ("vessel", ("an end-on vessel", "a vessel seen end-on")),
    ("cyst", ("a small cyst", "a thin-walled cyst")),
)
DISTRACTOR_TEMPLATES = ("{Phrase} in {cell}.", "There is {phrase} in {cell}.",
                        "{Phrase} is noted in {cell}, likely benign.", "{Phrase} projects over {cell}.",
                        "In {cell}, {phrase} is noted.", "{Cell} shows {phrase}.")
BENIGN_MENTIONS = ("Stable {kind}, likely benign.", "Incidental {kind}, no follow-up needed.",
                   "Benign-appearing {kind}.")
CELL_NEGATIONS = ("No nodule in {cell}.", "{Cell} is clear.", "No focal abnormality in {cell}.",
                  "{Cell} is unremarkable.")
EFFUSION_NEGATIONS = ("No pleural effusion on the {side}.", "No effusion on the {side}.")
ANGLE_NEGATIONS = ("The {side} costophrenic angle is clear.", "The {side} costophrenic angle is sharp.")

BOILERPLATE_COMMON = ("No pneumothorax.", "No pleural effusion.", "The osseous structures are intact.",
                      "No acute osseous abnormality.", "Degenerative changes of the thoracic spine.",
                      "No lines or tubes are seen.", "There are no support devices.",
                      "The soft tissues are unremarkable.", "No consolidation.", "No pulmonary edema.",
                      "There is no focal consolidation, pleural effusion or pneumothorax.",
                      "No acute fracture is seen in the visualized bones.",
                      "The lungs are otherwise well expanded and clear.",
                      "No interstitial abnormality or pulmonary venous congestion.")
BOILERPLATE = {2: BOILERPLATE_COMMON + ("The cardiac silhouette is within normal limits.", "Heart size is normal.",
                                        "The mediastinal contours are unremarkable.", "The trachea is midline.",
                                        "The hila are unremarkable.", "Both hemidiaphragms are well defined.",
                                        "Pulmonary vascularity is within normal limits."),
               3: BOILERPLATE_COMMON + ("The heart is normal in size.", "No pericardial effusion.",
                                        "The mediastinal lymph nodes are not enlarged.",
                                        "The central airways are patent.",
                                        "The thoracic aorta is normal in calibre.", "No ground-glass opacity.",
                                        "The included abdomen is unremarkable.")}
IMPRESSION_FILLERS = ("No acute cardiopulmonary process.", "Otherwise no acute abnormality.",
                      "No acute cardiopulmonary abnormality.")

Sentence = Dict[str, object]  # {"section", "role", "kind", "cells": [[side, zone], ...], "text"}


# ----------------------------------------------------------------------------- phrases
def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou8" or word.startswith(("11 ", "18 ")) else "a ") + word


def _zone_word(rng: np.random.Generator, zone: str) -> str:
    return "mid" if zone == "middle" and rng.random() < 0.5 else zone


def _cell_phrase(rng: np.random.Generator, cell: Tuple[str, str]) -> str:
    """"the left upper zone" / "the left upper lung zone" / "the upper zone of the left lung"."""
    side, zone = cell
    form = int(rng.integers(3))
    zone = _zone_word(rng, zone)
    return (f"the {side} {zone} zone", f"the {side} {zone} lung zone", f"the {zone} zone of the {side} lung")[form]


def _cells_phrase(rng: np.random.Generator, cells: Sequence[Tuple[str, str]]) -> str:
    if len(cells) > 1 and rng.random() < 0.5:  # "the left upper and right mid zones"
        return "the " + join_and([f"{s} {_zone_word(rng, z)}" for s, z in cells]) + " zones"
    return join_and([_cell_phrase(rng, c) for c in cells])


def _size_mm(lesion: dict) -> int:
    return max(3, int(round(2 * float(np.mean(lesion["radii"])))))


def _record(section: str, role: str, text: str, kind: str = "", cells=()) -> Sentence:
    return {"section": section, "role": role, "kind": kind, "cells": [list(c) for c in cells], "text": text}


# ----------------------------------------------------------------------------- findings
def _target_sentence(rng: np.random.Generator, targets: List[dict]) -> Sentence:
    cells = [(lesion["side"], lesion["zone"]) for lesion in targets]
    order = rng.permutation(len(cells))
    cells = [cells[i] for i in order]
    sizes = [_size_mm(targets[i]) for i in order]
    noun, nouns = pick(rng, TARGET_NOUNS)
    phrase = _cells_phrase(rng, cells)
    size = f"{max(sizes)} mm"
    if len(cells) == 1:
        text = pick(rng, TARGET_ONE).format(a_size=_an(size), A_size=upper_first(_an(size)), noun=noun,
                                            Noun=upper_first(noun), size=size, cells=phrase, Cells=upper_first(phrase))
    else:
        num = NUMBERS[len(cells)] if rng.random() < 0.7 else str(len(cells))
        text = pick(rng, TARGET_MANY).format(num=num, Num=upper_first(num), nouns=nouns, Nouns=upper_first(nouns),
                                             cells=phrase, size=size, sizes=join_and([f"{s} mm" for s in sizes]))
    return _record("FINDINGS", "target", text, TARGET_KIND, cells)


def _findings(rng: np.random.Generator, lesions: Sequence[dict], dim: int) -> List[Sentence]:
    targets = [lesion for lesion in lesions if lesion["target"]]
    distractors = [lesion for lesion in lesions if not lesion["target"]]
    if len(distractors) > len(DISTRACTORS):
        raise ValueError(f"at most {len(DISTRACTORS)} distractors per case, got {len(distractors)}")
    out = [_target_sentence(rng, targets)] if targets else []
    for lesion, k in zip(distractors, rng.permutation(len(DISTRACTORS))):
        kind, phrases = DISTRACTORS[int(k)]
        cell = (lesion["side"], lesion["zone"])
        phrase, where = pick(rng, phrases), _cell_phrase(rng, cell)
        text = pick(rng, DISTRACTOR_TEMPLATES).format(phrase=phrase, Phrase=upper_first(phrase), cell=where,
                                                      Cell=upper_first(where))
        out.append(_record("FINDINGS", "distractor", text, kind, [cell]))
    occupied = {(lesion["side"], lesion["zone"]) for lesion in lesions}
    for cell in CELLS:
        if cell not in occupied and rng.random() < 0.75:
            where = _cell_phrase(rng, cell)
            text = pick(rng, CELL_NEGATIONS).format(cell=where, Cell=upper_first(where))
            out.append(_record("FINDINGS", "negation", text, TARGET_KIND, [cell]))
    target_cells = {(lesion["side"], lesion["zone"]) for lesion in targets}
    for side in ("left", "right"):
        r = rng.random()
        if r < 0.2:
            out.append(_record("FINDINGS", "side_negation", pick(rng, EFFUSION_NEGATIONS).format(side=side),
                               "effusion"))
        elif r < 0.4 and (side, "lower") not in target_cells:
            out.append(_record("FINDINGS", "side_negation", pick(rng, ANGLE_NEGATIONS).format(side=side),
                               "effusion"))
    if not targets and rng.random() < 0.3:
        out.append(_record("FINDINGS", "target_negation", "No discrete nodule.", TARGET_KIND))
    pool = BOILERPLATE[dim]
    for i in rng.choice(len(pool), size=int(rng.integers(4, 9)), replace=False):
        out.append(_record("FINDINGS", "boilerplate", pool[int(i)]))
    return [out[i] for i in rng.permutation(len(out))]


def _impression(rng: np.random.Generator, lesions: Sequence[dict], findings: List[Sentence]) -> List[Sentence]:
    targets = [lesion for lesion in lesions if lesion["target"]]
    out = []
    if targets:
        cells = [(lesion["side"], lesion["zone"]) for lesion in targets]
        noun, nouns = pick(rng, TARGET_NOUNS)
        r = rng.random()
        if r < 0.4:
            count = (pick(rng, ("solitary", "single")) if len(cells) == 1 else NUMBERS[len(cells)])
            text = pick(rng, REPEATS).format(Count=upper_first(count), noun=noun if len(cells) == 1 else nouns,
                                             cells=_cells_phrase(rng, cells))
            out.append(_record("IMPRESSION", "target_repeat", text, TARGET_KIND, cells))
        elif r < 0.75:
            text = pick(rng, MENTIONS).format(Noun=upper_first(noun if len(cells) == 1 else nouns))
            out.append(_record("IMPRESSION", "target_mention", text, TARGET_KIND))
    else:
        out.append(_record("IMPRESSION", "target_negation", pick(rng, NO_TARGET), TARGET_KIND))
    kinds = [s["kind"] for s in findings if s["role"] == "distractor"]
    if kinds and rng.random() < 0.35:
        kind = str(pick(rng, kinds))
        out.append(_record("IMPRESSION", "distractor_mention", pick(rng, BENIGN_MENTIONS).format(kind=kind), kind))
    if not out or rng.random() < 0.4:
        out.append(_record("IMPRESSION", "filler", pick(rng, IMPRESSION_FILLERS)))
    return out


# ----------------------------------------------------------------------------- the report
def _indication(rng: np.random.Generator) -> str:
    complaint = pick(rng, COMPLAINTS)
    r = rng.random()
    if r < 0.35:
        return upper_first(complaint) + "."
    if r < 0.55:
        return f"{upper_first(complaint)}; assess for any new pulmonary abnormality."
    return f"{int(rng.integers(25, 90))}-year-old {pick(rng, ('man', 'woman', 'patient'))} with {complaint}."


def _comparison(rng: np.random.Generator, dim: int) -> str:
    r = rng.random()
    if r < 0.3:
        return pick(rng, ("None.", "None available.", "No prior studies."))
    return f"{upper_first(PRIOR_STUDY[dim])} from {int(rng.integers(2, 25))} months ago."


def _assemble(rng: np.random.Generator, sections: Dict[str, List[Sentence]], order: List[str]) -> str:
    upper = rng.random() < 0.8
    numbered = rng.random() < 0.5
    lines = []
    for name in order:
        texts = [s["text"] for s in sections[name]]
        if name == "IMPRESSION" and numbered and len(texts) > 1:
            texts = [f"{i + 1}. {t}" for i, t in enumerate(texts)]
        lines.append(f"{name if upper else name.capitalize()}: " + " ".join(texts))
    return "\n".join(lines)


def render_clinical_report(lesions: Sequence[dict], rng, dim: int = 2,
                           typo_rate: float = 0.0) -> Tuple[str, List[Sentence]]:
    """(report text, sentence records) for one case.

    lesions: ``sample_case``'s ``meta["lesions"]`` (dicts with "side", "zone", "radii",
    "target"); the targets are the :data:`TARGET_KIND` findings. rng: numpy Generator or seed.
    typo_rate: probability of one typo in a FINDINGS or IMPRESSION sentence (its record then
    has ``"typo": True``). Records appear in the order of the text; ``cells`` lists the
    [side, zone] cells a sentence names.
    """
    rng = as_rng(rng)
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    findings = _findings(rng, lesions, dim)
    sections = {"EXAMINATION": [_record("EXAMINATION", "examination", pick(rng, EXAMINATIONS[dim]))],
                "INDICATION": [_record("INDICATION", "indication", _indication(rng))],
                "COMPARISON": [_record("COMPARISON", "comparison", _comparison(rng, dim))],
                "FINDINGS": findings, "IMPRESSION": _impression(rng, lesions, findings)}
    middle = ["INDICATION"] + (["COMPARISON"] if rng.random() < 0.7 else [])
    middle = [middle[i] for i in rng.permutation(len(middle))]
    last = ["FINDINGS", "IMPRESSION"] if rng.random() < 0.85 else ["IMPRESSION", "FINDINGS"]
    order = ["EXAMINATION"] + middle + last
    pool = [s for s in BOILERPLATE[dim] if s not in {f["text"] for f in findings}]
    extra = list(rng.permutation(len(pool)))
    # headers add a word per section; a typo may merge two words into one
    while sum(len(str(s["text"]).split()) for name in order for s in sections[name]) + len(order) <= MIN_WORDS \
            and extra:
        filler = _record("FINDINGS", "boilerplate", pool[int(extra.pop())])
        findings.insert(int(rng.integers(len(findings) + 1)), filler)
    if typo_rate > 0 and rng.random() < typo_rate:
        for i in rng.permutation(len(findings) + len(sections["IMPRESSION"])):
            record = (findings + sections["IMPRESSION"])[int(i)]
            record["text"], record["typo"] = apply_typo(str(record["text"]), rng)
            if record["typo"]:
                break
            del record["typo"]
    text = _assemble(rng, sections, order)
    records = [s for name in order for s in sections[name]]
    return text, records
