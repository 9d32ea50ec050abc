"""Mirror the direction words of a report when nnU-Net mirrors the image (the report side of a flip).

A flip along the axis of a word group ("left_right": left <-> right; "upper_lower": upper <->
lower, superior <-> inferior, top <-> bottom) maps each word of the group's pairs to its
partner, so the image-report pair stays correct; words of other groups and all other
characters are kept byte-for-byte. The mapping is an involution (mirroring twice gives the
original text), except that a misspelt swapped word comes back in its canonical spelling.

A word is a maximal run of letters ("left-sided", "lung.left", "upper/lower" hold one). It
is swapped, keeping its case pattern ("Left" -> "Right", "LEFT" -> "RIGHT"), when the whole
run is a pair word; a pair word + "most"/"ward"/"wards" ("leftmost"); two of the pair words
and "middle" merged without a space ("upperleft": each part is swapped on its own, "middle"
never changes); or a misspelt pair word: a known typo (``KNOWN_TYPOS``, also in merged
words) or, for pair words of >= 4 letters, any single insertion, deletion, substitution or
adjacent transposition of >= 4 letters that is not a real word (``NOT_TYPOS``). A typo
becomes the correctly spelt partner ("Rigth" -> "Left"). Runs that merely contain a pair
word ("leftover", "bright", "copyright") stay unchanged.
"""
import re
from typing import Dict, Iterable, Iterator, Tuple, Union

WORD_PAIRS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "left_right": (("left", "right"),),
    "upper_lower": (("upper", "lower"), ("superior", "inferior"), ("top", "bottom")),
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

Spans = Tuple[Tuple[int, int, str], ...]  # (start, end, canonical word) inside a letter run
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_PAIR_WORDS = tuple(w for pairs in WORD_PAIRS.values() for pair in pairs for w in pair)


def _single_edits(word: str) -> Iterator[str]:
    """All strings one deletion, adjacent transposition, substitution or insertion away."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    yield from (a + b[1:] for a, b in splits if b)
    yield from (a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    yield from (a + c + b[1:] for a, b in splits if b for c in letters)
    yield from (a + c + b for a, b in splits for c in letters)


def _build_vocabulary() -> Dict[str, Spans]:
    """Lower-case letter run -> the spans to swap; earlier kinds win over later ones."""
    parts = {w: w for w in _PAIR_WORDS + ("middle",)}
    parts.update(KNOWN_TYPOS)
    vocabulary: Dict[str, Spans] = {}
    for form, word in parts.items():
        vocabulary.setdefault(form, ((0, len(form), word),))
    for word in _PAIR_WORDS:
        for suffix in SUFFIXES:
            vocabulary.setdefault(word + suffix, ((0, len(word), word),))
    for first, word1 in parts.items():
        for second, word2 in parts.items():
            n = len(first)
            vocabulary.setdefault(first + second, ((0, n, word1), (n, n + len(second), word2)))
    sources: Dict[str, set] = {}
    for word in _PAIR_WORDS:
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


def _edits(text: str, partner: Dict[str, str]) -> Iterator[Tuple[int, int, str]]:
    """(start, end, replacement) of every word to swap, left to right."""
    for run in _LETTER_RUN.finditer(text):
        token = run.group()
        for start, end, word in (_VOCABULARY.get(token.lower(), ()) if token.isascii() else ()):
            if word in partner:
                yield run.start() + start, run.start() + end, _same_case(token[start:end], partner[word])


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
    """How many words mirror_report would change (each part of a merged word counts; 0: no change)."""
    partner = _partners(swap)
    return sum(1 for _ in _edits(text, partner)) if partner else 0
