"""Report text of the synthetic dataset: vocabulary, templates and typos naming the target cells.

The grid: side (``left``/``right`` half of the image) x zone (``upper``/``middle``/``lower``
third); a report names the target lesions by cell and count, e.g.
``"Two lesions, upper left and lower right."``, or says there is none. A fraction of the
reports gets one typo (:data:`TYPO_WORDS` maps each typo back to its word).

The grid (:data:`SIDES`, :data:`ZONES`, :data:`CELLS`) and the phrase helpers (:func:`as_rng`,
:func:`pick`, :func:`upper_first`, :func:`join_and`, :func:`apply_typo`) are shared with the
images (:mod:`.images`) and the clinical-style reports (:mod:`.clinical`).
"""
import re
from typing import List, Sequence, Tuple

import numpy as np

SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")
CELLS = tuple((s, z) for z in ZONES for s in SIDES)  # 6 cells

# ----------------------------------------------------------------------------- vocabulary
NOUNS = {  # singular, plural
    "lesion": ("lesion", "lesions"),
    "opacity": ("opacity", "opacities"),
    "nodule": ("nodule", "nodules"),
    "focus": ("focus", "foci"),
}
ADJECTIVES = ("", "", "", "small ", "round ", "well-defined ", "bright ")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
SINGLE_WORDS = ("single", "a single", "solitary", "a solitary", "one", "1")
AREA_WORDS = (("zone", "zones"), ("region", "regions"))

# Templates for reports with >= 1 target. Fields:
#   C   count phrase ("two", "2", "a single", ...)      N  noun phrase (number-agreed, maybe adjective)
#   NB  bare noun (number-agreed)                        NUM plain count ("two" / "2")
#   J   joined zone phrases ("upper left and lower right")
#   Z   "zone"/"zones"/"region"/"regions"                BE "is"/"are"
#   LAT "bilateral" / "left-sided" / "right-sided"
TEMPLATES = (
    "{C} {N}, {J}.",
    "{C} {N} in the {J} {Z}.",
    "{LAT} findings: {C} {N}, {J}.",
    "{NB} in the {J} {Z}; {NUM} in total.",
    "There {BE} {C} {N}: {J}.",
    "{J}: {C} {N}.",
    "Findings include {C} {N} located in the {J} {Z}.",
    "{C} {N} noted ({J}).",
    "Impression: {C} {N} involving the {J} {Z}.",
)

EMPTY_TEMPLATES = (
    "No lesion.",
    "No focal lesion identified.",
    "No nodules seen.",
    "No opacity detected.",
    "No suspicious focus.",
    "Unremarkable study: no lesions.",
    "No evidence of any nodule or opacity.",
)

# Typos: (pattern, replacement). One of the matches in a report is replaced.
# Merged words ("lowerleft", "rightupper") are added on top of these.
TYPO_RULES = (
    (r"\bright\b", "rigth"),
    (r"\bleft\b", "lfet"),
    (r"\bupper\b", "uper"),
    (r"\blower\b", "lowwer"),
    (r"\bmiddle\b", "midle"),
    (r"lesion", "lesoin"),
    (r"nodule", "nodlue"),
    (r"\bopacity\b", "opacty"),
    (r"\bopacities\b", "opacites"),
    (r"\bfocus\b", "fcous"),
)
# typo word -> correct word (handy for parsers of these reports)
TYPO_WORDS = {"rigth": "right", "lfet": "left", "uper": "upper", "lowwer": "lower", "midle": "middle",
              "lesoin": "lesion", "nodlue": "nodule", "opacty": "opacity", "opacites": "opacities",
              "fcous": "focus"}
_MERGE_RE = re.compile(r"\b(upper|middle|lower|left|right) (left|right|upper|middle|lower)\b", re.IGNORECASE)


def as_rng(rng) -> np.random.Generator:
    """``rng`` if it is a numpy Generator, else ``default_rng(rng)`` (a seed)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def pick(rng: np.random.Generator, seq):
    """One element of ``seq``, drawn with ``rng.integers``."""
    return seq[int(rng.integers(len(seq)))]


def upper_first(s: str) -> str:
    """``s`` with its first character upper-cased (the rest unchanged)."""
    return s[:1].upper() + s[1:]


def join_and(items: List[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _is_merge_pair(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return (a in SIDES and b in ZONES) or (a in ZONES and b in SIDES)


def apply_typo(text: str, rng: np.random.Generator) -> Tuple[str, bool]:
    """Replaces one randomly chosen typo-able span; returns (text, applied)."""
    candidates = []  # (start, end, replacement)
    for pattern, repl in TYPO_RULES:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            r = upper_first(repl) if m.group(0)[:1].isupper() else repl
            candidates.append((m.start(), m.end(), r))
    for m in _MERGE_RE.finditer(text):
        if _is_merge_pair(m.group(1), m.group(2)):
            candidates.append((m.start(), m.end(), m.group(1) + m.group(2)))
    if not candidates:
        return text, False
    start, end, repl = candidates[int(rng.integers(len(candidates)))]
    return text[:start] + repl + text[end:], True


def render_report_and_typo(targets: Sequence[Tuple[str, str]], rng: np.random.Generator,
                           typo_rate: float) -> Tuple[str, bool]:
    """(report text, whether it got a typo); see :func:`render_report`."""
    targets = [(str(s).lower(), str(z).lower()) for s, z in targets]
    for s, z in targets:
        if s not in SIDES or z not in ZONES:
            raise ValueError(f"invalid target {(s, z)}; side must be in {SIDES}, zone in {ZONES}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"targets must be distinct cells, got {targets}")
    k = len(targets)
    if k == 0:
        text = pick(rng, EMPTY_TEMPLATES)
    else:
        template = pick(rng, TEMPLATES)
        side_first = bool(rng.random() < 0.35)  # "left upper" vs "upper left"
        order = rng.permutation(k)
        zone_phrases = [(f"{targets[i][0]} {targets[i][1]}" if side_first else f"{targets[i][1]} {targets[i][0]}")
                        for i in order]
        sing, plur = NOUNS[pick(rng, tuple(NOUNS))]
        noun = sing if k == 1 else plur
        adjective = pick(rng, ADJECTIVES)
        use_digit = bool(rng.random() < 0.3)
        num = str(k) if use_digit else NUMBER_WORDS.get(k, str(k))
        count = pick(rng, SINGLE_WORDS) if k == 1 else num
        if count in ("single", "solitary") and not template.startswith("{C}"):
            count = "a " + count  # "There is a single lesion", but "Single lesion in ..."
        area_s, area_p = pick(rng, AREA_WORDS)
        sides = {s for s, _ in targets}
        lat = "bilateral" if len(sides) == 2 else f"{next(iter(sides))}-sided"
        text = template.format(C=count, N=adjective + noun, NB=noun, NUM=num, J=join_and(zone_phrases),
                               Z=area_s if k == 1 else area_p, BE="is" if k == 1 else "are", LAT=lat)
        text = upper_first(text)
    typo = False
    if typo_rate > 0 and rng.random() < typo_rate:
        text, typo = apply_typo(text, rng)
    return text, typo


def render_report(targets: Sequence[Tuple[str, str]], rng, typo_rate: float = 0.05) -> str:
    """Report text naming the target cells.

    targets: sequence of (side, zone) with side in ("left", "right") and zone in
    ("upper", "middle", "lower"); empty -> a "no lesion" style report.
    rng: numpy Generator (or a seed). typo_rate: probability that the report gets one typo.
    """
    return render_report_and_typo(targets, as_rng(rng), typo_rate)[0]
