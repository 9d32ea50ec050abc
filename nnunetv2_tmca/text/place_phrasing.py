"""Equivalent phrasings of a lung lobe's place, as real chest-CT reports write them (training-time augmentation).

One place, three phrasings: "upper lobe of the right lung" = "right lung upper lobe" = "right upper lobe" (any of
upper / middle / lower, right / left), and for both sides "lower lobes of both lungs" = "both lungs lower lobes" =
"bilateral lower lobes". ``rephrase(text, rng)`` rewrites every such phrase into one of its phrasings, drawn per
phrase; every other word is kept, so the place each sentence names is unchanged. ``with_place_phrasings`` adds up
to n distinct rewrites of each report under the keys ``"<case>|phrasing:<k>"``; a trainer reads one of a case's
phrasings per step (``place_phrasings`` of nnUNetTrainerTMCA), so a model that has seen a place in one phrasing
in training also learns it in the others.
"""
from __future__ import annotations

import random
import re
import zlib

PHRASING_KEY_SEPARATOR = "|phrasing:"
_PHRASING_IN_KEY = re.compile(re.escape(PHRASING_KEY_SEPARATOR) + r"\d+")

_ZONE = r"(?P<zone>upper|middle|lower)"
_SIDE = r"(?P<side>right|left)"
# the longer forms first: "right lung upper lobe" must not be read as "right ... upper lobe"
_ONE_SIDE = re.compile(rf"\b(?:{_ZONE} lobe of the {_SIDE} lung|(?P<side2>right|left) lung(?:'s)? "
                       rf"(?P<zone2>upper|middle|lower) lobe|(?P<side3>right|left) (?P<zone3>upper|middle|lower) "
                       rf"lobe)\b", re.IGNORECASE)
_BOTH_SIDES = re.compile(r"\b(?:(?P<zone>upper|middle|lower) lobes of both lungs|both lungs(?:'s)? "
                         r"(?P<zone2>upper|middle|lower) lobes|bilateral (?P<zone3>upper|middle|lower) lobes)\b",
                         re.IGNORECASE)
# a segment named after the lobe ("... lobe superior segment") reads only after the forms that end in "lobe(s)"
_SEGMENT_AFTER = re.compile(r"(?:\s+[a-z-]+){0,2}\s+(?:sub)?segments?\b", re.IGNORECASE)
ONE_SIDE_FORMS = ("{zone} lobe of the {side} lung", "{side} lung {zone} lobe", "{side} {zone} lobe")
BOTH_SIDES_FORMS = ("{zone} lobes of both lungs", "both lungs {zone} lobes", "bilateral {zone} lobes")


def _group(match: re.Match, name: str) -> str:
    return next(match.group(n) for n in (name, name + "2", name + "3") if match.group(n) is not None).lower()


def _rewrite(match: re.Match, forms, rng: random.Random, with_side: bool) -> str:
    if _SEGMENT_AFTER.match(match.string, match.end()):  # "left lung upper lobe anterior segment": keep a prefix form
        forms = forms[1:]
    places = {"zone": _group(match, "zone")}
    if with_side:
        places["side"] = _group(match, "side")
    out = rng.choice(forms).format(**places)
    return out[0].upper() + out[1:] if match.group(0)[0].isupper() else out


def place_phrase_count(text: str) -> int:
    """How many lobe places ``text`` names in one of the phrasings above."""
    return len(_ONE_SIDE.findall(text)) + len(_BOTH_SIDES.findall(text))


def rephrase(text: str, rng: random.Random) -> str:
    """``text`` with each lobe place in a phrasing drawn from its forms (possibly the one it had)."""
    text = _ONE_SIDE.sub(lambda m: _rewrite(m, ONE_SIDE_FORMS, rng, True), text)
    return _BOTH_SIDES.sub(lambda m: _rewrite(m, BOTH_SIDES_FORMS, rng, False), text)


def place_phrasings(text: str, n: int, seed: int = 0) -> list:
    """Up to ``n`` distinct rewrites of ``text`` other than ``text`` itself ([] if it names no lobe place)."""
    if n <= 0 or not place_phrase_count(text):
        return []
    rng = random.Random(seed)
    seen, out = {text}, []
    for _ in range(8 * n):  # a report with one phrase has only 2 other phrasings of it
        candidate = rephrase(text, rng)
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
            if len(out) == n:
                break
    return out


def phrasing_key(case_id: str, k: int) -> str:
    return f"{case_id}{PHRASING_KEY_SEPARATOR}{k}"


def with_place_phrasings(reports: dict, n: int, seed: int = 0, cases=None) -> tuple[dict, dict]:
    """(``reports`` plus up to ``n`` rephrased reports of each case (of ``cases``, default all) under
    ``phrasing_key(case, k)``, case id -> its keys, the case id first, for the cases with at least one rephrasing).
    Deterministic in ``seed`` and the case id; ``n = 0``: (``reports``, {})."""
    out, keys = dict(reports), {}
    cases = set(reports) if cases is None else set(cases)
    for case_id, text in reports.items():
        if case_id not in cases:
            continue
        variants = place_phrasings(text, n, seed=_case_seed(seed, case_id))
        for k, variant in enumerate(variants):
            out[phrasing_key(case_id, k)] = variant
        if variants:
            keys[case_id] = [case_id] + [phrasing_key(case_id, k) for k in range(len(variants))]
    return out, keys


def unphrased_key(key: str) -> str:
    """The key of the report a phrasing was made from ("<case>|phrasing:1|mirror:lr" -> "<case>|mirror:lr")."""
    return _PHRASING_IN_KEY.sub("", key)


def _case_seed(seed: int, case_id: str) -> int:
    # not hash(): it changes between processes, and every DDP rank must draw the same phrasings
    return seed * 1_000_003 + zlib.crc32(case_id.encode("utf-8"))
