"""Mirror the direction words of a report when nnU-Net mirrors the image (the report side of a flip).

A flip along the axis of a word group maps each word of the group's pairs (``WORD_PAIRS``) to its
partner, so the image-report pair stays correct; words of other groups and all other characters
are kept byte-for-byte. "left_right": left <-> right, and the middle zone of each lung: lingula
(left lung) <-> middle lobe (right lung only), "lingular segment(s)" <-> "middle lobe segment(s)".
"upper_lower": upper <-> lower, superior(ly) <-> inferior(ly), top <-> bottom, apex <-> base,
apices <-> bases, apical(ly) <-> basal(ly), cranial(ly) <-> caudal(ly). The mapping is an
involution (mirroring twice gives the original text), except that a variant (``VARIANTS``:
"lingular" before another word -> "middle lobe", "middle lobes" -> "lingula", "apexes" ->
"bases") or a misspelt swapped word comes back in its canonical form, and the spacing inside a
swapped phrase ("middle  lobe") comes back as one space. Only these words change: the lingula is part
of the left upper lobe, so "left lung upper lobe lingular segment" becomes "right lung upper lobe middle
lobe segment", and segment names of one lobe stay ("superior lingular segment" -> "superior middle lobe
segment"); lobe lists ("upper and middle lobes") keep "middle". Negation and uncertainty are kept
("no nodule in the left lung?" -> "no nodule in the right lung?").

A word is a maximal run of letters ("left-sided", "lung.left", "upper/lower" hold one). It
is swapped, keeping its case pattern ("Left" -> "Right", "LEFT" -> "RIGHT"; a phrase takes its
first word's: "Lingula" -> "Middle lobe"), when the whole run is a pair word or variant, or the
runs from it are a pair phrase separated by white space only (the longest phrase wins). For the
words of the original table (``FUZZY_WORDS``: left, right, upper, lower, superior, inferior, top,
bottom) also: the word + "most"/"ward"/"wards" ("leftmost"); two of them or "middle" merged
without a space ("upperleft": each part is swapped on its own, "middle" never changes); or a
misspelling: a known typo (``KNOWN_TYPOS``, also in merged words) or, for words of >= 4
letters, any single insertion, deletion, substitution or adjacent transposition of >= 4 letters
that is not a real word (``NOT_TYPOS``). A typo becomes the correctly spelt partner ("Rigth" ->
"Left"). The other pair words match exactly (their one-letter neighbours are real words:
basal/nasal, caudal/causal). Merged segment names swap their apical/basal part: a combining
form ending in "o" + "basal"/"apical" ("posterobasal" <-> "posteroapical", "anteromediobasal")
and "apico"/"baso" + posterior/anterior/lateral/medial ("apicoposterior" <-> "basoposterior",
"basolateral"; also hyphenated, "apico-posterior"), but not the axis words "apicobasal", "basoapical".
Not swapped, as names or shapes rather than places: apex/base (and plurals) after
"pleural", "broad" or "skull" ("a nodule with a pleural base"), apical/basal before "ganglia",
"ganglion", "cell" or "cells" ("basal ganglia", "basal cell"). Runs that merely contain a pair
word ("leftover", "bright", "copyright", "database", "craniocaudal", "inferiolingular") stay
unchanged; so do "R"/"L"/"rt"/"lt" (in CT reports "L1" is a vertebra and "RT" radiotherapy).
"""
import re
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

WORD_PAIRS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "left_right": (("left", "right"), ("lingula", "middle lobe"), ("lingular segment", "middle lobe segment"),
                   ("lingular segments", "middle lobe segments")),
    "upper_lower": (("upper", "lower"), ("superior", "inferior"), ("top", "bottom"), ("apex", "base"),
                    ("apices", "bases"), ("apical", "basal"), ("apically", "basally"), ("cranial", "caudal"),
                    ("cranially", "caudally"), ("superiorly", "inferiorly"), ("apico", "baso")),
}
FUZZY_WORDS = ("left", "right", "upper", "lower", "superior", "inferior", "top", "bottom")
VARIANTS: Dict[str, str] = {  # non-canonical form -> canonical pair word (mirrored once, it comes back canonical)
    "lingular": "lingula", "middle lobes": "middle lobe", "apexes": "apices",
}
KNOWN_TYPOS: Dict[str, str] = {  # typo -> canonical word; includes the synthetic generator's TYPO_WORDS
    "rigth": "right", "rihgt": "right", "righ": "right", "rght": "right", "riht": "right",
    "lfet": "left", "lef": "left", "letf": "left", "leftt": "left", "lft": "left",
    "uper": "upper", "upperr": "upper", "uppper": "upper",
    "lowwer": "lower", "lowe": "lower", "lwoer": "lower", "lowr": "lower",
    "botom": "bottom", "bottem": "bottom", "midle": "middle",
}
NOT_TYPOS = frozenset((  # real words one edit away from a pair word: never treated as typos
    "aright bight bright dight eight fight fright hight light might night rights righto righty sight "
    "tight wight wright "
    "cleft deft heft leet lefts lefty lent lept lest lift loft reft weft "
    "supper upped uppers "
    "blower bower cower dower flower glower loner loper lover loser lowed lowers lowes lowery mower plower "
    "power rower slower sower tower vower "
    "bottoms inferiors interior superiors").split())
SUFFIXES = ("most", "ward", "wards")
NAMES_AFTER = frozenset(("pleural", "broad", "skull"))  # "pleural base", "skull base": a shape or a structure
NAMES_BEFORE = frozenset(("ganglia", "ganglion", "cell", "cells"))  # "basal ganglia", "basal cell carcinoma"

Spans = Tuple[Tuple[int, int, str], ...]  # (start, end, canonical word) inside a letter run
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_PAIR_WORDS = tuple(w for pairs in WORD_PAIRS.values() for pair in pairs for w in pair)
_PHRASES = {form: word for form, word in [(w, w) for w in _PAIR_WORDS] + list(VARIANTS.items()) if " " in form}
_PHRASE_RUNS = sorted({form.count(" ") + 1 for form in _PHRASES}, reverse=True)  # longest first
_BASE_WORDS = frozenset(("apex", "apices", "base", "bases"))  # kept after NAMES_AFTER
_BASAL_WORDS = frozenset(("apical", "basal"))  # kept before NAMES_BEFORE
_MERGED_SEGMENT = re.compile(r"([a-z]{3,}o)(basal|apical)")  # "posterobasal", "anteromediobasal"
_MERGED_COMBINING = re.compile(r"(apico|baso)(posterior|anterior|lateral|medial)")  # "apicoposterior"


def _single_edits(word: str) -> Iterator[str]:
    """All strings one deletion, adjacent transposition, substitution or insertion away."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    yield from (a + b[1:] for a, b in splits if b)
    yield from (a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    yield from (a + c + b[1:] for a, b in splits if b for c in letters)
    yield from (a + c + b for a, b in splits for c in letters)


def _build_vocabulary() -> Dict[str, Spans]:
    """Lower-case letter run -> the spans to swap; earlier kinds win over later ones: the words of
    ``FUZZY_WORDS`` and "middle" with their typos, the other one-run pair words and variants, the
    FUZZY_WORDS + suffixes, two of the first kind merged, single-edit typos of FUZZY_WORDS."""
    parts = {w: w for w in FUZZY_WORDS + ("middle",)}
    parts.update(KNOWN_TYPOS)
    vocabulary: Dict[str, Spans] = {}
    for form, word in parts.items():
        vocabulary.setdefault(form, ((0, len(form), word),))
    for form, word in [(w, w) for w in _PAIR_WORDS] + list(VARIANTS.items()):
        if " " not in form:
            vocabulary.setdefault(form, ((0, len(form), word),))
    for word in FUZZY_WORDS:
        for suffix in SUFFIXES:
            vocabulary.setdefault(word + suffix, ((0, len(word), word),))
    for first, word1 in parts.items():
        for second, word2 in parts.items():
            n = len(first)
            vocabulary.setdefault(first + second, ((0, n, word1), (n, n + len(second), word2)))
    sources: Dict[str, set] = {}
    for word in FUZZY_WORDS:
        if len(word) >= 4:
            for variant in _single_edits(word):
                sources.setdefault(variant, set()).add(word)
    for variant, words in sources.items():
        if len(variant) >= 4 and len(words) == 1 and variant not in NOT_TYPOS:
            vocabulary.setdefault(variant, ((0, len(variant), words.pop()),))
    return vocabulary


_VOCABULARY = _build_vocabulary()


def _partners(swap: Union[str, Iterable[str]]) -> Dict[str, str]:
    partner: Dict[str, str] = {}
    for name in ([swap] if isinstance(swap, str) else swap):
        if name not in WORD_PAIRS:
            raise ValueError(f"unknown word group {name!r}; valid names: {', '.join(WORD_PAIRS)}")
        for a, b in WORD_PAIRS[name]:
            partner[a], partner[b] = b, a
    return partner


def _same_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    return word.capitalize() if template[0].isupper() else word


def _spans(token: str) -> Spans:
    """The spans to swap in one lower-case letter run: the vocabulary's, else a merged segment name's."""
    spans = _VOCABULARY.get(token)
    if spans is not None:
        return spans
    merged = _MERGED_SEGMENT.fullmatch(token)
    if merged and merged.group(1) not in ("apico", "baso"):  # "apicobasal" names an axis, like "craniocaudal"
        return ((len(merged.group(1)), len(token), merged.group(2)),)
    merged = _MERGED_COMBINING.fullmatch(token)
    return ((0, len(merged.group(1)), merged.group(1)),) if merged else ()


def _phrase(text: str, runs: List[re.Match], i: int) -> Tuple[int, Optional[str]]:
    """(number of runs, canonical phrase) of the longest pair phrase or variant starting at run ``i``
    whose runs are separated by white space only; (0, None) if there is none."""
    for n in _PHRASE_RUNS:
        group = runs[i:i + n]
        if len(group) == n and all(text[a.end():b.start()].isspace() for a, b in zip(group, group[1:])):
            word = _PHRASES.get(" ".join(r.group().lower() for r in group))
            if word is not None and all(r.group().isascii() for r in group):
                return n, word
    return 0, None


def _names_a_structure(text: str, runs: List[re.Match], i: int, word: str) -> bool:
    """Whether run ``i`` (``word``) is part of a name or a shape, not a place: "pleural base", "basal ganglia"."""
    if word in _BASE_WORDS and i > 0:
        neighbour, gap = runs[i - 1], text[runs[i - 1].end():runs[i].start()]
        return (gap.isspace() or gap == "-") and neighbour.group().lower() in NAMES_AFTER
    if word in _BASAL_WORDS and i + 1 < len(runs):
        neighbour, gap = runs[i + 1], text[runs[i].end():runs[i + 1].start()]
        return (gap.isspace() or gap == "-") and neighbour.group().lower() in NAMES_BEFORE
    return False


def _edits(text: str, partner: Dict[str, str]) -> Iterator[Tuple[int, int, str]]:
    """(start, end, replacement) of every word or phrase to swap, left to right."""
    runs = list(_LETTER_RUN.finditer(text))
    i = 0
    while i < len(runs):
        run = runs[i]
        token = run.group()
        n, phrase = _phrase(text, runs, i)
        if n:
            if phrase in partner:
                yield run.start(), runs[i + n - 1].end(), _same_case(token, partner[phrase])
            i += n
            continue
        for start, end, word in (_spans(token.lower()) if token.isascii() else ()):
            whole = start == 0 and end == len(token)
            if word in partner and not (whole and _names_a_structure(text, runs, i, word)):
                yield run.start() + start, run.start() + end, _same_case(token[start:end], partner[word])
        i += 1


def mirror_report(text: str, swap: Union[str, Iterable[str]]) -> str:
    """swap: iterable of pair-group names from WORD_PAIRS ('left_right', 'upper_lower'); returns the
    report with those words traded (a single name as a string is accepted too)."""
    partner = _partners(swap)
    pieces, last = [], 0
    for start, end, replacement in (_edits(text, partner) if partner else ()):
        pieces += [text[last:start], replacement]
        last = end
    return "".join(pieces) + text[last:] if pieces else text


def swapped_words(text: str, swap: Union[str, Iterable[str]]) -> int:
    """How many words mirror_report would change (each part of a merged word counts, a phrase once; 0: no
    change)."""
    partner = _partners(swap)
    return sum(1 for _ in _edits(text, partner)) if partner else 0
