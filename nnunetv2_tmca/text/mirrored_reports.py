"""Mirrored counterparts of the reports, encoded and cached next to the originals.

For each case and each non-empty set of word groups G that a flip can trade, the report
``mirror_report(text, G)`` is added under the key ``"<case>|mirror:<g1>+<g2>"``. The frozen
encoder's cache is keyed by text, so the mirrored texts land in the same cache file and are
encoded once (a mirrored text that equals another case's report costs nothing).
"""
from __future__ import annotations

from itertools import combinations

from nnunetv2_tmca.text.mirroring import mirror_report

MIRROR_KEY_SEPARATOR = "|mirror:"


def mirrored_key(case_id: str, groups) -> str:
    """The lookup key of a case's report after a flip trading ``groups`` (empty: the case id itself)."""
    groups = tuple(sorted(groups))
    return f"{case_id}{MIRROR_KEY_SEPARATOR}{'+'.join(groups)}" if groups else case_id


def group_sets(groups) -> list:
    """All non-empty subsets of ``groups`` (sorted tuples)."""
    groups = sorted(set(groups))
    return [c for n in range(1, len(groups) + 1) for c in combinations(groups, n)]


def with_mirrored_reports(reports: dict, groups) -> dict:
    """``reports`` plus the mirrored report of every case for every non-empty subset of ``groups``."""
    out = dict(reports)
    for subset in group_sets(groups):
        for case_id, text in reports.items():
            out[mirrored_key(case_id, subset)] = mirror_report(text, subset)
    return out
