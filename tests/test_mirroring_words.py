"""mirroring/words.py on chest-CT place phrases (invented sentences in the style of real reports): lingula <->
middle lobe under a left-right flip, apex/apical <-> base/basal and merged segment names under an upper-lower
flip, names and abbreviations that must not change, negation and uncertainty kept, involution."""
import itertools
import re

import pytest

from nnunetv2_tmca.mirroring.words import VARIANTS, WORD_PAIRS, mirror_report, swapped_words

LR, UL, BOTH = ["left_right"], ["upper_lower"], ["left_right", "upper_lower"]

# a place: (side, part); mirrored independently of the module: the side swaps under left_right, the part
# follows PART_LR / PART_UL
PART_LR = {"middle lobe": "lingula", "lingula": "middle lobe", "lingular segment": "middle lobe segment",
           "middle lobe segment": "lingular segment", "lingular segments": "middle lobe segments",
           "middle lobe segments": "lingular segments"}
PART_UL = {"upper lobe": "lower lobe", "lower lobe": "upper lobe",
           "apical segment of the upper lobe": "basal segment of the lower lobe",
           "basal segment of the lower lobe": "apical segment of the upper lobe",
           "posterobasal segment of the lower lobe": "posteroapical segment of the upper lobe",
           "posteroapical segment of the upper lobe": "posterobasal segment of the lower lobe",
           "anteromediobasal segment": "anteromedioapical segment",
           "anteromedioapical segment": "anteromediobasal segment",
           "apicoposterior segment": "basoposterior segment", "basoposterior segment": "apicoposterior segment",
           "apex": "base", "base": "apex", "apices": "bases", "bases": "apices",
           "superior lingular segment": "inferior lingular segment",
           "inferior lingular segment": "superior lingular segment",
           "superior segment of the lower lobe": "inferior segment of the upper lobe",
           "inferior segment of the upper lobe": "superior segment of the lower lobe",
           "lingular segment of the upper lobe": "lingular segment of the lower lobe",
           "lingular segment of the lower lobe": "lingular segment of the upper lobe"}
PARTS = sorted(set(PART_LR) | set(PART_UL) | {"middle zone", "hilum"})
SIDES = ("right", "left")
SENTENCES = (  # {place} is filled in; invented, in the style of CT reports
    "A 4 mm nodule is seen in the {place}.",
    "No mass or infiltrative lesion was detected in the {place}.",
    "When examined in the lung parenchyma window; ground-glass opacity? in the {place} (series 2 image 134).",
    "A 1.5 mm calcified nodule (granuloma?) is observed subpleurally in the {place}.",
    "1. Linear atelectasis adjacent to the major fissure in the {place}.",
    "\u00b7 Nodule? {place}; no pleural effusion.",
    "Consolidation is not observed in the {place}, nor in the contralateral lung.",
)


def _part_lr(part):
    """The part after a left-right flip: the lingula and the middle lobe trade places, inside longer parts too."""
    for old, new in (("lingular segments", "middle lobe segments"), ("middle lobe segments", "lingular segments"),
                     ("lingular segment", "middle lobe segment"), ("middle lobe segment", "lingular segment")):
        if old in part:
            return part.replace(old, new)
    return PART_LR.get(part, part)


def _render(side, part, style, template):
    place = f"{part} of the {side} lung" if style == 0 else f"{side} lung {part}"
    return template.format(place=place)


def _mirror(side, part, groups):
    if "upper_lower" in groups:
        part = PART_UL.get(part, part)
    if "left_right" in groups:
        side, part = SIDES[1 - SIDES.index(side)], _part_lr(part)
    return side, part


CASES = list(itertools.product(SIDES, PARTS, (0, 1), SENTENCES))


@pytest.mark.parametrize("groups", [LR, UL, BOTH], ids=["left_right", "upper_lower", "both"])
def test_invented_places_follow_the_flip_and_come_back(groups):
    for side, part, style, template in CASES:
        text = _render(side, part, style, template)
        mirrored = mirror_report(text, groups)
        assert mirrored == _render(*_mirror(side, part, groups), style, template)
        assert mirror_report(mirrored, groups) == text  # involution on the canonical forms
        assert (swapped_words(text, groups) == 0) == (mirrored == text)
        # negation and uncertainty survive: the words and signs that are not place words are all kept
        for keep in ("No ", "nor", "?", "(granuloma?)", "1.5 mm", "series 2 image 134", ";", "\u00b7", "1. "):
            assert mirrored.count(keep) == text.count(keep)


@pytest.mark.parametrize("text,groups,expected", [
    ("no nodule in the left lung", LR, "no nodule in the right lung"),
    ("Nodule? in the lingula.", LR, "Nodule? in the middle lobe."),
    ("Lingula", LR, "Middle lobe"), ("LINGULA", LR, "MIDDLE LOBE"), ("lingula", LR, "middle lobe"),
    ("Middle lobe", LR, "Lingula"), ("MIDDLE LOBE", LR, "LINGULA"), ("Middle Lobe", LR, "Lingula"),
    ("Lingular segment", LR, "Middle lobe segment"), ("right lung middle lobe medial segment", LR,
                                                      "left lung lingula medial segment"),
    ("left lung upper lobe inferior lingular segment", LR, "right lung upper lobe inferior middle lobe segment"),
    ("middle\n  lobe", LR, "lingula"), ("middle lobe", UL, "middle lobe"), ("lingula", UL, "lingula"),
    ("middle lobe, lower lobe", BOTH, "lingula, upper lobe"), ("middle, lobe", LR, "middle, lobe"),
    ("middle zone", LR, "middle zone"), ("middle-lobe", LR, "middle-lobe"),
    ("apex of both lungs", UL, "base of both lungs"), ("both lung apices", UL, "both lung bases"),
    ("Apical", UL, "Basal"), ("APICAL segment", UL, "BASAL segment"), ("basally", UL, "apically"),
    ("extending cranially and caudally", UL, "extending caudally and cranially"),
    ("Cranial", UL, "Caudal"), ("superiorly", UL, "inferiorly"), ("Inferiorly", UL, "Superiorly"),
    ("Posterobasal", UL, "Posteroapical"), ("laterobasal and mediobasal", UL, "lateroapical and medioapical"),
    ("postero-basal", UL, "postero-apical"), ("apico-posterior", UL, "baso-posterior"),
    ("Apicoposterior", UL, "Basoposterior"), ("basolateral", UL, "apicolateral"),
    ("posterobasal", LR, "posterobasal"), ("apex", LR, "apex"),
    ("right-sided", LR, "left-sided"), ("rightward", LR, "leftward"), ("Left-sided", BOTH, "Right-sided"),
])
def test_place_words(text, groups, expected):
    assert mirror_report(text, groups) == expected
    if text not in ("Middle Lobe", "middle\n  lobe"):  # title case and odd spacing come back canonical
        assert mirror_report(expected, groups) == text


NOT_PLACES = (
    "basal ganglia", "Basal cell carcinoma", "apical cells", "database", "craniocaudal length", "apicobasal axis",
    "basoapical", "a nodule with a pleural base", "pleural-base", "with a broad base", "skull base", "baseline",
    "based on", "basically", "nasal", "causal", "periapical", "inferiolingular", "lingual", "basals",
    "L2 vertebra", "L1-L2", "5 L", "post-RT changes", "RT", "rt", "R", "Lt", "the left ventricle", "apexcardiogram")


@pytest.mark.parametrize("text", NOT_PLACES)
def test_names_shapes_and_abbreviations_unchanged(text):
    expected = text.replace("left", "right")  # only "the left ventricle" holds a side word
    assert mirror_report(text, UL) == text
    assert mirror_report(text, BOTH) == expected
    assert swapped_words(text, UL) == 0


def test_variants_come_back_in_canonical_form():
    assert set(VARIANTS) == {"lingular", "middle lobes", "apexes"}
    once = mirror_report("lingular and apicoposterior segments", LR)
    assert once == "middle lobe and apicoposterior segments"
    assert mirror_report(once, LR) == "lingula and apicoposterior segments"
    once = mirror_report("the upper and middle lobes of the right lung", LR)
    assert once == "the upper and lingula of the left lung"
    assert mirror_report(once, LR) == "the upper and middle lobe of the right lung"
    assert mirror_report("both lung apexes", UL) == "both lung bases"
    assert mirror_report("both lung bases", UL) == "both lung apices"


def test_swapped_words_counts_phrases_once():
    text = "Nodules in the lingular segment and the right lung middle lobe; posterobasal atelectasis."
    assert swapped_words(text, LR) == 3  # "lingular segment", "right", "middle lobe"
    assert swapped_words(text, UL) == 1  # the "basal" of "posterobasal"
    assert swapped_words(text, BOTH) == 4
    assert swapped_words("basal ganglia, pleural base, lingual", BOTH) == 0


def test_table_is_consistent():
    words = [w for pairs in WORD_PAIRS.values() for pair in pairs for w in pair]
    assert len(words) == len(set(words))  # each word has one partner
    for word in words:
        group = next(g for g, pairs in WORD_PAIRS.items() if any(word in p for p in pairs))
        partner = next(b if a == word else a for a, b in WORD_PAIRS[group] if word in (a, b))
        assert mirror_report(word, group) == partner and mirror_report(partner, group) == word
        other = [g for g in WORD_PAIRS if g != group]
        assert mirror_report(word, other) == word
    for variant, word in VARIANTS.items():
        group = next(g for g, pairs in WORD_PAIRS.items() if any(word in p for p in pairs))
        assert mirror_report(variant, group) == mirror_report(word, group)


def test_only_letters_of_place_words_change():
    """Outside the two-word phrases, every non-letter character stays byte-for-byte."""
    for side, part, style, template in CASES[::7]:
        text = _render(side, part, style, template)
        for groups in (LR, UL, BOTH):
            out = mirror_report(text, groups)
            if "middle lobe" not in text and "lingul" not in text:
                assert re.findall(r"[^A-Za-z]+", out) == re.findall(r"[^A-Za-z]+", text)
