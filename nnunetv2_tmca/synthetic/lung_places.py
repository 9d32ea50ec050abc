"""Where a lung finding lies, read from a report sentence: the (side, zone) cells of its stated lobes.

:func:`lung_places` reads the places a sentence states anatomically ("right upper lobe", "lower lobe
of the left lung", "right lung middle lobe", "apex of the right lung", "lower lobes of both lungs",
"lingula") and returns their cells: side "right" / "left" is the PATIENT's side; zone "upper" (upper
lobe, apex), "middle" (middle lobe, which only the right lung has; lingula, on the left) or "lower"
(lower lobe, base, the basal segments). A lobe name wins over a segment name of the same place ("superior
segment of the lower lobe" is lower), except the lingula ("lingular segment of the left upper lobe" is
the left middle cell). Anything not definite gives None: a lobe without a side, a side without a lobe
("in both lungs", "in the right lung"), a side or region word the parser cannot attach to a lobe.

:func:`target_finding` says whether a sentence states a lung finding of a kind (default "nodule") as
present, with definite places: not negated or hedged, no other organ, no other finding named beside it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

Cell = Tuple[str, str]  # (patient side, zone)
BOTH = ("left", "right")
SIDE_WORDS = {"right": ("right",), "left": ("left",), "both": BOTH, "bilateral": BOTH, "bilaterally": BOTH}
ZONE_WORDS = {"upper": "upper", "middle": "middle", "mid": "middle", "lower": "lower"}
LOBE_WORDS = frozenset(("lobe", "lobes", "zone", "zones", "field", "fields"))
LUNG_WORDS = frozenset(("lung", "lungs"))
SELF_PLACED = {"bibasilar": (BOTH, "lower"), "bibasal": (BOTH, "lower"), "biapical": (BOTH, "upper")}
LIST_WORDS = frozenset(("and", ",", "or", "/", "&"))
_GLUE = re.compile(r"^(the|of|its|segments?|subsegments?|(sub)?segmental|level|parts?|portions?|aspects?|regions?|"
                   r"areas?|sections?|[a-z]*(anterior|posterior|superior|inferior|lateral|medial|dorsal|ventral)[a-z]*|"
                   r"antero|postero|latero|medio|apico)$")
_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?|[^\sa-z\d]")


def _region_zone(word: str) -> Optional[str]:
    """Zone of a region / segment word (apex, base, posterobasal, lingula...), else None."""
    if word in ("apex", "apices", "apical", "apicoposterior"):
        return "upper"
    if word in ("base", "bases", "basilar") or word.endswith("basal"):
        return "lower"
    if word in ("lingula", "lingular"):
        return "middle"
    return None


@dataclass(eq=False)  # compared by identity: anchors and places refer to each other
class _Anchor:
    """A run of tokens that names a side ("side", "lung": "right lung") or a zone ("lobe", "region")."""
    kind: str
    start: int
    end: int  # exclusive token index
    sides: Tuple[str, ...] = ()
    zones: Tuple[Tuple[str, Optional[str]], ...] = ()  # (zone, side implied by anatomy or None)
    lingula: bool = False
    place: Optional["_Place"] = None


@dataclass(eq=False)
class _Place:
    sides: Optional[Tuple[str, ...]]  # None: only implied by anatomy
    anchors: List[_Anchor] = field(default_factory=list)

    def add(self, anchor: _Anchor) -> None:
        anchor.place = self
        self.anchors.append(anchor)

    def cells(self) -> Optional[List[Cell]]:
        lobes = [z for a in self.anchors if a.kind == "lobe" for z in a.zones]
        regions = [z for a in self.anchors if a.kind == "region" for z in a.zones]
        lingula = [z for a in self.anchors if a.lingula for z in a.zones]
        if lingula:  # the lingula is part of the left upper lobe, but its own (middle) cell
            zones = [z for z in lobes if z[0] != "upper"] + lingula
        else:
            zones = lobes or regions
        out = []
        for zone, implied in zones:
            sides = self.sides or ((implied,) if implied else None)
            if sides is None or (implied and set(sides) != {implied}):
                return None
            out += [(side, zone) for side in sides]
        return out


def _tokens(sentence: str) -> List[str]:
    return _TOKEN.findall(re.sub(r"(?<=[a-z])-(?=[a-z])", " ", sentence.lower()))


def _sides_at(tokens: List[str], i: int) -> Tuple[Tuple[str, ...], int]:
    """Sides of a side list starting at ``i`` ("right and left"), and the index after it."""
    sides, j = set(SIDE_WORDS[tokens[i]]), i + 1
    while j + 1 < len(tokens) and tokens[j] in LIST_WORDS and tokens[j + 1] in SIDE_WORDS:
        sides |= set(SIDE_WORDS[tokens[j + 1]])
        j += 2
    return tuple(sorted(sides)), j


def _zones_at(tokens: List[str], i: int) -> Optional[Tuple[Tuple[Tuple[str, Optional[str]], ...], int]]:
    """A lobe anchor at ``i`` ("upper lobe", "upper and lower lobes", "mid lung zone", "lower lung")."""
    zones, j = [ZONE_WORDS[tokens[i]]], i + 1
    while j + 1 < len(tokens) and tokens[j] in LIST_WORDS and tokens[j + 1] in ZONE_WORDS:
        zones.append(ZONE_WORDS[tokens[j + 1]])
        j += 2
    lung = j < len(tokens) and tokens[j] in LUNG_WORDS
    j += lung
    lobe = j < len(tokens) and tokens[j] in LOBE_WORDS
    if not (lobe or lung):
        return None
    lobe_proper = lobe and tokens[j].startswith("lobe")  # only the right lung has a middle LOBE
    return tuple((z, "right" if z == "middle" and lobe_proper else None) for z in zones), j + lobe


def _anchors(tokens: List[str]) -> List[_Anchor]:
    out, i = [], 0
    while i < len(tokens):
        word = tokens[i]
        if word in SIDE_WORDS:
            sides, j = _sides_at(tokens, i)
            lung = j < len(tokens) and tokens[j] in LUNG_WORDS
            out.append(_Anchor("lung" if lung else "side", i, j + lung, sides=sides))
            i = j + lung
            continue
        lobe = _zones_at(tokens, i) if word in ZONE_WORDS else None
        if lobe:
            out.append(_Anchor("lobe", i, lobe[1], zones=lobe[0]))
            i = lobe[1]
            continue
        if word in SELF_PLACED:
            sides, zone = SELF_PLACED[word]
            out.append(_Anchor("region", i, i + 1, zones=((zone, None),), place=_Place(sides)))
            out[-1].place.add(out[-1])
        elif _region_zone(word):
            lingula = word.startswith("lingul")
            out.append(_Anchor("region", i, i + 1, zones=((_region_zone(word), "left" if lingula else None),),
                               lingula=lingula))
        i += 1
    return out


def _between(tokens: List[str], a: _Anchor, b: _Anchor) -> List[str]:
    return tokens[a.end:b.start]


def _bind_adjacent(tokens: List[str], anchors: List[_Anchor]) -> None:
    """"right upper lobe", "right lung upper lobe", "right apex", "both lung bases"."""
    for a, b in zip(anchors, anchors[1:]):
        if a.kind in ("side", "lung") and a.place is None and b.kind in ("lobe", "region") and b.place is None \
                and b.start == a.end:
            place = _Place(a.sides)
            place.add(a)
            place.add(b)


def _chain_before(tokens: List[str], anchors: List[_Anchor], k: int, stop: int) -> List[_Anchor]:
    """The unbound zone anchors before token ``stop`` joined to it only by glue words and lists."""
    chain, pos = [], stop
    for a in reversed(anchors[:k]):
        gap = tokens[a.end:pos]
        if not all(_GLUE.match(t) or t in LIST_WORDS for t in gap):
            break
        if a.kind not in ("lobe", "region") or a.place is not None:
            break
        chain.append(a)
        pos = a.start
    return chain


def _bind_trailing(tokens: List[str], anchors: List[_Anchor]) -> None:
    """"lower lobe of the left lung", "upper and lower lobes of both lungs", "lower lobe on the left",
    "lower lobes bilaterally"."""
    for k, a in enumerate(anchors):
        if a.place is not None or a.kind not in ("side", "lung"):
            continue
        before = tokens[max(0, a.start - 2):a.start]
        article = 1 if before[-1:] == ["the"] else 0
        preposition = before[-1 - article:len(before) - article]
        if preposition == [{"lung": "of", "side": "on"}[a.kind]]:
            stop = a.start - 1 - article
        elif tokens[a.start] == "bilaterally":
            stop = a.start
        else:
            continue
        chain = _chain_before(tokens, anchors, k, stop)
        if chain:
            place = _Place(a.sides)
            place.add(a)
            for z in chain:
                place.add(z)


def _absorb_regions(tokens: List[str], anchors: List[_Anchor]) -> None:
    """A segment word next to a placed lobe joins its place: "apical segment of the left lung upper lobe",
    "right lower lobe posterobasal and laterobasal segments"."""
    changed = True
    while changed:
        changed = False
        for k, a in enumerate(anchors):
            if a.kind != "region" or a.place is not None:
                continue
            for step in (-1, 1):
                j = k + step
                while 0 <= j < len(anchors):
                    b = anchors[j]
                    lo, hi = (b, a) if step < 0 else (a, b)
                    gap = _between(tokens, lo, hi)
                    lists_ok = all(t not in LIST_WORDS for t in gap) or (b.kind == "region" and not a.lingula)
                    if not lists_ok or not all(_GLUE.match(t) or t in LIST_WORDS for t in gap):
                        break
                    if b.place is not None:
                        b.place.add(a)
                        changed = True
                        break
                    if b.kind != "region":
                        break
                    j += step
                if a.place is not None:
                    break


def lung_places(sentence: str) -> Optional[List[Cell]]:
    """The (patient side, zone) cells of the lung places ``sentence`` states, in order, without repeats;
    None if it states none or any of its place words is not definite."""
    tokens = _tokens(sentence)
    anchors = _anchors(tokens)
    if not anchors:
        return None
    _bind_adjacent(tokens, anchors)
    _bind_trailing(tokens, anchors)
    _absorb_regions(tokens, anchors)
    for a in anchors:
        if a.place is None and a.kind in ("lobe", "region") and all(implied for _, implied in a.zones):
            _Place(None).add(a)  # "middle lobe" (right), "lingula" (left)
    if any(a.place is None for a in anchors):
        return None
    cells: List[Cell] = []
    places = []
    for a in anchors:
        if a.place not in places:
            places.append(a.place)
    for place in places:
        found = place.cells()
        if not found:
            return None
        cells += [c for c in found if c not in cells]
    return cells


# ----------------------------------------------------------------------------- the target finding
@dataclass(frozen=True)
class FindingKind:
    """A kind of lung finding: ``stem`` marks any mention (negated or not); ``noun`` its accepted forms."""
    stem: str
    noun: re.Pattern


KINDS = {"nodule": FindingKind("nodul", re.compile(
    r"\b(?:micro)?nodules?\b|\bnodular (?:lesions?|opacit(?:y|ies))\b"))}
NEGATION = re.compile(r"\b(?:no|not|none|without|neither|nor|absence|absent|free of|negative for|rule[sd]? out|"
                      r"excluded?|cannot|disappeared|resolved|no longer|resected|removed|possible|possibly|"
                      r"probable|questionable|equivocal|if any|exclusion)\b|n't\b|\?")
# the sentence names a pattern, not a discrete finding, or one finding of others stated elsewhere
PATTERN_OR_CONTEXT = re.compile(r"\b(?:cent\w*(?:lobular|acin\w*)|acinar|pattern|miliary|patchy|perilymphatic|"
                                r"reticul\w*|tree|bud\w*|largest|biggest|these|those|such|especially|particularly|predominantly|"
                                r"mainly|mostly|majority|some of|one of|few of|including)\b")
OTHER_ORGANS = re.compile(r"\b(?:thyroid|breasts?|mammary|liver|hepatic|kidneys?|renal|splen\w*|adrenal|"
                          r"axilla|axillary|lymph|nodes?|vertebra[el]?|schmorl|pancrea\w*|glands?|skin|"
                          r"subcutaneous|cutaneous|soft tissue|muscles?|bones?|osseous|esophag\w*|stomach|gastric|"
                          r"gallbladder|bowel|colon|trache\w*|heart|cardiac|pericardi\w*|thymus|mediastin\w*)\b")
OTHER_FINDINGS = re.compile(r"\b(?:consolidations?|atelecta\w*|bands?|fibros\w*|fibrotic|emphysema\w*|bullae?|blebs?|"
                            r"cysts?|cystic|bronchiectasis|infiltrat\w*|effusions?|thickening|scar\w*|sequela\w*|"
                            r"mass(?:es)?|calcifications?|pneumoni\w*|plaques?|honeycomb\w*|septal|interstitial|"
                            r"pneumothorax|opacit(?:y|ies)|densit(?:y|ies)|ground glass|lesions?|bronchi\w*|"
                            r"air trapping|mosaic)\b")


def mentions_kind(sentence: str, kind: str = "nodule") -> bool:
    """Whether any word of ``sentence`` names the kind ("nodul..."), negated or not."""
    return _kind(kind).stem in sentence.lower()


def _kind(kind: str) -> FindingKind:
    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind!r}; known: {sorted(KINDS)}")
    return KINDS[kind]


def target_finding(sentence: str, kind: str = "nodule") -> Optional[List[Cell]]:
    """The 1-3 distinct (patient side, zone) cells of a positive statement of a lung finding of ``kind``
    with definite places; None if the sentence is not one (negated, hedged or a question, another organ,
    another finding beside it, no or indefinite places, more than three cells)."""
    spec = _kind(kind)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", sentence.lower())
    nouns = [m.span() for m in spec.noun.finditer(text)]
    if not nouns:
        return None
    mentions = [m.span() for m in re.finditer(rf"\w*{spec.stem}\w*", text)]
    if any(not any(lo <= s < hi for lo, hi in nouns) for s, _ in mentions):
        return None  # "reticulonodular", "nodular consolidation"
    if NEGATION.search(text) or OTHER_ORGANS.search(text) or PATTERN_OR_CONTEXT.search(text):
        return None
    if any(not any(lo <= m.start() < hi for lo, hi in nouns) for m in OTHER_FINDINGS.finditer(text)
           if not _modifies_noun(text, m.end(), nouns)):
        return None
    cells = lung_places(sentence)
    return cells if cells and len(cells) <= 3 else None


def _modifies_noun(text: str, end: int, nouns: List[Tuple[int, int]]) -> bool:
    """Whether the noun of the kind follows, at most one word later ("ground glass nodule", "cystic solid nodule")."""
    gap = re.match(r"\s*", text[end:]).end()
    word = re.match(r"\s*[a-z]+\s+", text[end:])
    starts = {end + gap} | ({end + word.end()} if word else set())
    return any(lo in starts for lo, _ in nouns)
