"""Tests for nnunetv2_tmca.mirroring.words: report direction words follow the image flips."""
import re
import time
from collections import Counter

import numpy as np
import pytest

from nnunetv2_tmca.mirroring.words import KNOWN_TYPOS, NOT_TYPOS, WORD_PAIRS, mirror_report, swapped_words
from nnunetv2_tmca.synthetic.reports import CELLS, TYPO_WORDS, render_report

LR, UL, BOTH = ["left_right"], ["upper_lower"], ["left_right", "upper_lower"]
PARTNER = {"left": "right", "right": "left", "upper": "lower", "lower": "upper", "superior": "inferior",
           "inferior": "superior", "top": "bottom", "bottom": "top"}
GROUP_OF = {w: g for g, pairs in WORD_PAIRS.items() for pair in pairs for w in pair}

# ----------------------------------------------------------------------------- QaTa-COV19 (LViT reports)
QATA = (
    "bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung.",
    "unilateral pulmonary infection, one infected area, lower left lung.",
    "bilateral pulmonary infection, two infected areas, upper lower left lung and upper lower right lung.",
    "unilateral pulmonary infection, one infected area, middle right lung.",
    "Bilateral pulmonary infection, two infected areas, middle left lung and middle right lung.",
    "Unilateral pulmonary infection, one infected area, upper middle lower left lung.",
)
QATA_MIRRORED = {  # (index, groups) -> expected
    (0, "lr"): "bilateral pulmonary infection, two infected areas, all right lung and middle lower left lung.",
    (0, "ul"): "bilateral pulmonary infection, two infected areas, all left lung and middle upper right lung.",
    (0, "both"): "bilateral pulmonary infection, two infected areas, all right lung and middle upper left lung.",
    (1, "lr"): "unilateral pulmonary infection, one infected area, lower right lung.",
    (1, "ul"): "unilateral pulmonary infection, one infected area, upper left lung.",
    (1, "both"): "unilateral pulmonary infection, one infected area, upper right lung.",
    (2, "lr"): "bilateral pulmonary infection, two infected areas, upper lower right lung and upper lower left lung.",
    (2, "ul"): "bilateral pulmonary infection, two infected areas, lower upper left lung and lower upper right lung.",
    (3, "lr"): "unilateral pulmonary infection, one infected area, middle left lung.",
    (3, "ul"): QATA[3],
    (4, "both"): "Bilateral pulmonary infection, two infected areas, middle right lung and middle left lung.",
    (5, "both"): "Unilateral pulmonary infection, one infected area, lower middle upper right lung.",
}
GROUPS = {"lr": LR, "ul": UL, "both": BOTH}


@pytest.mark.parametrize("key", sorted(QATA_MIRRORED))
def test_qata_reports(key):
    i, groups = key
    assert mirror_report(QATA[i], GROUPS[groups]) == QATA_MIRRORED[key]


def test_qata_untouched_words_and_counts():
    for text in QATA:
        for swap in GROUPS.values():
            out = mirror_report(text, swap)
            for word in ("bilateral", "unilateral", "middle", "all", "pulmonary", "infection", "lung"):
                assert out.lower().count(word) == text.lower().count(word)
            assert mirror_report(out, swap) == text  # involution
    assert [swapped_words(QATA[0], g) for g in (LR, UL, BOTH)] == [2, 1, 3]
    assert [swapped_words(QATA[3], g) for g in (LR, UL, BOTH)] == [1, 0, 1]
    assert swapped_words(QATA[2], BOTH) == 6


QATA_TYPOS = (  # (typo'd report, swap, mirrored, mirrored twice = typos of the swapped words fixed)
    ("bilateral pulmonary infection, two infected areas, all lfet lung and middle lowwer rigth lung.", LR,
     "bilateral pulmonary infection, two infected areas, all right lung and middle lowwer left lung.",
     "bilateral pulmonary infection, two infected areas, all left lung and middle lowwer right lung."),
    ("bilateral pulmonary infection, two infected areas, all lfet lung and middle lowwer rigth lung.", BOTH,
     "bilateral pulmonary infection, two infected areas, all right lung and middle upper left lung.",
     "bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung."),
    ("unilateral pulmonary infection, one infected area, lower Left lung.bilateral pulmonary infection, two "
     "infected areas, uper  left lung and LOWER RIGHT lung.", UL,
     "unilateral pulmonary infection, one infected area, upper Left lung.bilateral pulmonary infection, two "
     "infected areas, lower  left lung and UPPER RIGHT lung.",
     "unilateral pulmonary infection, one infected area, lower Left lung.bilateral pulmonary infection, two "
     "infected areas, upper  left lung and LOWER RIGHT lung."),
    ("Unilateral pulmonary infection,  one infected area,\nmiddle Rigth lung.", LR,
     "Unilateral pulmonary infection,  one infected area,\nmiddle Left lung.",
     "Unilateral pulmonary infection,  one infected area,\nmiddle Right lung."),
    ("bilateral pulmonary infection, two infected areas, upper lowerleft lung and uper lowwer rigth lung.", BOTH,
     "bilateral pulmonary infection, two infected areas, lower upperright lung and lower upper left lung.",
     "bilateral pulmonary infection, two infected areas, upper lowerleft lung and upper lower right lung."),
)


@pytest.mark.parametrize("text,swap,once,twice", QATA_TYPOS)
def test_qata_reports_with_typos(text, swap, once, twice):
    assert mirror_report(text, swap) == once
    assert mirror_report(once, swap) == twice
    assert mirror_report(twice, swap) == once


# ----------------------------------------------------------------------------- Kvasir-SEG (MedVLSM prompts)
def test_kvasir_prompts():
    one = "one small pink circle polyp, located in right of the image"
    two = "two medium white round polyps, located in top left and bottom right of the image"
    assert mirror_report(one, LR) == "one small pink circle polyp, located in left of the image"
    assert mirror_report(one, UL) == one
    assert mirror_report(two, UL) == "two medium white round polyps, located in bottom left and top right of the image"
    assert mirror_report(two, LR) == "two medium white round polyps, located in top right and bottom left of the image"
    assert mirror_report(two, BOTH) == \
        "two medium white round polyps, located in bottom right and top left of the image"
    assert mirror_report("Superior pole; inferior margin", UL) == "Inferior pole; superior margin"


# ----------------------------------------------------------------------------- word rules
@pytest.mark.parametrize("text,swap,expected", [
    ("Left", LR, "Right"), ("LEFT", LR, "RIGHT"), ("left", LR, "right"), ("Upper", UL, "Lower"),
    ("left-sided", LR, "right-sided"), ("Right-sided findings", LR, "Left-sided findings"),
    ("upper/lower", UL, "lower/upper"), ("lung.left", LR, "lung.right"), ("(left)", LR, "(right)"),
    ("left_lung", LR, "right_lung"), ("left2", LR, "right2"), ("Left's", LR, "Right's"),
    ("lowerleft", LR, "lowerright"), ("lowerleft", UL, "upperleft"), ("lowerleft", BOTH, "upperright"),
    ("Rightupper", LR, "Leftupper"), ("UPPERLEFT", BOTH, "LOWERRIGHT"), ("UpperLeft", BOTH, "LowerRight"),
    ("leftlower", BOTH, "rightupper"), ("middleleft", BOTH, "middleright"), ("Leftmiddle", UL, "Leftmiddle"),
    ("topleft", UL, "bottomleft"), ("bottomright", BOTH, "topleft"),
    ("lfetupper", LR, "rightupper"), ("upperrigth", LR, "upperleft"), ("uperleft", LR, "uperright"),
    ("uperleft", UL, "lowerleft"), ("midleleft", BOTH, "midleright"), ("Lowwerrigth", BOTH, "Upperleft"),
    ("leftmost", LR, "rightmost"), ("Uppermost", UL, "Lowermost"), ("leftwards", LR, "rightwards"),
    ("Rigth", LR, "Left"), ("RIGTH", LR, "LEFT"), ("lfet", LR, "right"), ("Uper", UL, "Lower"),
    ("rgiht", LR, "left"), ("lefr", LR, "right"), ("bottm", UL, "top"), ("superiro", UL, "inferior"),
    ("infeiror", UL, "superior"), ("uppre", UL, "lower"), ("loweer", UL, "upper"), ("lft", LR, "right"),
    ("left", UL, "left"), ("upper", LR, "upper"), ("lfet", UL, "lfet"),
])
def test_word_rules(text, swap, expected):
    assert mirror_report(text, swap) == expected


MERE_CONTAINERS = ("leftover", "bright", "copyright", "alright", "righteous", "lowered", "uppercase", "topic",
                   "stop", "bottomless", "leftä", "ürigth", "eft", "let", "rig", "low", "righteously")
BRIEF_EXCLUSIONS = ("light", "night", "sight", "eight", "tight", "fight", "might", "wight", "lift", "loft", "lent",
                    "lest", "leaf", "power", "tower", "lover", "loser", "mower", "bower", "rower", "lowed", "super",
                    "supper", "upped", "inferno", "interior", "cleft", "flower", "slower", "lefty", "bottoms")


@pytest.mark.parametrize("word", MERE_CONTAINERS + BRIEF_EXCLUSIONS + tuple(sorted(NOT_TYPOS)))
def test_real_words_unchanged(word):
    for form in (word, word.capitalize(), word.upper()):
        text = f"the {form} lung, {form}."
        assert mirror_report(text, BOTH) == text
        assert swapped_words(text, BOTH) == 0


def _one_edit(a, b):
    """True when b is one insertion, deletion, substitution or adjacent transposition away from a."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (a[i + 1:] == b[i + 1:] or a[i:] == b[i + 1:] or a[i + 1:] == b[i:]
            or (a[i:i + 2] == b[i + 1:i - 1:-1] and a[i + 2:] == b[i + 2:]))


def test_exclusion_set_is_needed():
    """Every excluded word would otherwise be taken for a single-edit typo of a pair word."""
    for word in NOT_TYPOS:
        assert len(word) >= 4 and any(len(p) >= 4 and _one_edit(p, word) for p in PARTNER), word


def test_known_typos_and_generator_typos():
    for typo, word in KNOWN_TYPOS.items():
        expected = PARTNER.get(word)
        for form, case in ((typo, str.lower), (typo.capitalize(), str.capitalize), (typo.upper(), str.upper)):
            assert mirror_report(form, BOTH) == (case(expected) if expected else form)
    for typo, word in TYPO_WORDS.items():  # every typo of the synthetic generator
        if word in PARTNER or word == "middle":
            assert KNOWN_TYPOS.get(typo) == word
            first_forms, second_forms = (typo, word), ("left", "rigth", "upper", "lowwer", "midle")
            for first in first_forms:
                for second in second_forms:
                    merged = mirror_report(first + second, BOTH)
                    expected1 = PARTNER.get(KNOWN_TYPOS.get(first, first), first)
                    expected2 = PARTNER.get(KNOWN_TYPOS.get(second, second), second)
                    assert merged == expected1 + expected2
        else:
            assert mirror_report(typo, BOTH) == typo


def test_punctuation_and_spacing_byte_for_byte():
    text = "Left\tlung;  upper-lobe (RIGHT)\r\nnote: \u22652 foci, \u00fc left.\u00a0end  lfet\n"
    expected = "Right\tlung;  lower-lobe (LEFT)\r\nnote: \u22652 foci, \u00fc right.\u00a0end  right\n"
    assert mirror_report(text, BOTH) == expected
    for text in QATA + (text,):
        for swap in GROUPS.values():
            assert re.findall(r"[^A-Za-z]+", mirror_report(text, swap)) == re.findall(r"[^A-Za-z]+", text)


def test_swap_argument(capsys):
    text = "secret report: left lung"
    for bad in (["left_rigth"], ["left_right", "up_down"], ["LEFT_RIGHT"]):
        for fn in (mirror_report, swapped_words):
            with pytest.raises(ValueError) as err:
                fn(text, bad)
            assert "left_right" in str(err.value) and "upper_lower" in str(err.value)
            assert "secret" not in str(err.value)
    for empty in ([], (), set()):
        assert mirror_report(text, empty) is text
        assert swapped_words(text, empty) == 0
    assert mirror_report(text, "left_right") == "secret report: right lung"
    assert mirror_report(text, iter(LR)) == "secret report: right lung"
    assert mirror_report("", BOTH) == "" and swapped_words("", BOTH) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_swapped_words_counts():
    assert swapped_words("upperleft", BOTH) == 2
    assert swapped_words("upperleft", LR) == 1
    assert swapped_words("middle lung, bright light", BOTH) == 0
    assert swapped_words("Rigth and lfet, top", LR) == 2
    assert swapped_words("Rigth and lfet, top", BOTH) == 3


# ----------------------------------------------------------------------------- synthetic reports
SIDE_SWAP = {"left": "right", "right": "left"}
ZONE_SWAP = {"upper": "lower", "lower": "upper", "middle": "middle"}
# the generator's "lesion"/"nodule" typo rules have no word boundary: plurals get typos too
_TYPO_FIX = {**TYPO_WORDS, "lesoins": "lesions", "nodlues": "nodules"}
_MERGED = re.compile(r"\b(upper|middle|lower|left|right)(upper|middle|lower|left|right)\b", re.IGNORECASE)


def _canonical(text):
    """The generator's typos fixed and merged words split again (independent of the module under test)."""
    def fix(m):
        word = _TYPO_FIX.get(m.group().lower())
        return m.group() if word is None else (word.capitalize() if m.group()[0].isupper() else word)
    return _MERGED.sub(r"\1 \2", re.sub(r"[A-Za-z]+", fix, text))


def _targets(seed):
    rng = np.random.default_rng([12345, seed])
    k = int(rng.integers(0, 4))
    return [CELLS[i] for i in rng.choice(len(CELLS), size=k, replace=False)]


@pytest.mark.parametrize("swap", ["left_right", "upper_lower", "both"])
def test_synthetic_reports_follow_mirrored_targets(swap):
    groups = BOTH if swap == "both" else [swap]
    sides = SIDE_SWAP if "left_right" in groups else {s: s for s in SIDE_SWAP}
    zones = ZONE_SWAP if "upper_lower" in groups else {z: z for z in ZONE_SWAP}
    seen = Counter()
    for seed in range(300):
        targets = _targets(seed)
        mirrored = [(sides[s], zones[z]) for s, z in targets]
        clean = render_report(targets, seed, typo_rate=0.0)
        # the generator's random draws do not depend on the target cells -> the exact same sentence
        assert mirror_report(clean, groups) == render_report(mirrored, seed, typo_rate=0.0)
        assert mirror_report(mirror_report(clean, groups), groups) == clean
        typo = render_report(targets, seed, typo_rate=1.0)
        out = mirror_report(typo, groups)
        assert _canonical(out) == render_report(mirrored, seed, typo_rate=0.0)
        before = Counter(w for w in re.findall(r"[a-z]+", _canonical(typo).lower()) if w in PARTNER)
        after = Counter(w for w in re.findall(r"[a-z]+", _canonical(out).lower()) if w in PARTNER)
        assert after == Counter({(PARTNER[w] if GROUP_OF[w] in groups else w): n for w, n in before.items()})
        assert swapped_words(typo, groups) == sum(n for w, n in before.items() if GROUP_OF[w] in groups)
        seen.update(w for w in re.findall(r"[a-z]+", typo.lower()) if w in TYPO_WORDS)
        seen["merged"] += bool(_MERGED.search(typo))
    assert all(seen[w] > 0 for w in ("rigth", "lfet", "uper", "lowwer", "merged")), seen


def test_speed():
    texts = [render_report(_targets(s), s, typo_rate=0.5) + f" case {s}" for s in range(3000)]
    start = time.perf_counter()
    for text in texts:
        mirror_report(text, BOTH)
    assert time.perf_counter() - start < 10.0
