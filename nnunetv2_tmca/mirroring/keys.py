"""Lookup keys of the mirrored reports, encoded and cached next to the originals.

For each case and each non-empty set of word groups G that a flip can trade, the report
``mirror_report(text, G)`` is added under the key ``"<case>|mirror:<g1>+<g2>"``. The frozen
encoder's cache is keyed by text, so the mirrored texts land in the same cache file and are
encoded once (a mirrored text that equals another case's report costs nothing).
"""
from __future__ import annotations

from nnunetv2_tmca.mirroring.axes import nonempty_subsets
from nnunetv2_tmca.mirroring.words import WORD_PAIRS, mirror_report

MIRROR_KEY_SEPARATOR = "|mirror:"


def mirrored_key(case_id: str, groups) -> str:
    """The lookup key of a case's report after a flip trading ``groups`` (empty: the case id itself)."""
    groups = tuple(sorted(groups))
    return f"{case_id}{MIRROR_KEY_SEPARATOR}{'+'.join(groups)}" if groups else case_id


def mirrored_texts(text: str) -> list:
    """``text`` mirrored by every non-empty set of word groups: the texts whose cached encodings stay while
    ``text`` is a current report or sentence (``ensure_text_encodings(..., derived_texts=mirrored_texts)``)."""
    return [mirror_report(text, subset) for subset in nonempty_subsets(sorted(WORD_PAIRS))]


def with_mirrored_reports(reports: dict, groups) -> dict:
    """``reports`` plus the mirrored report of every case for every non-empty subset of ``groups``."""
    out = dict(reports)
    for subset in nonempty_subsets(sorted(set(groups))):
        for case_id, text in reports.items():
            out[mirrored_key(case_id, subset)] = mirror_report(text, subset)
    return out
