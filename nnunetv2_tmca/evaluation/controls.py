"""Text controls for evaluation: shuffled reports (each case gets another case's report) and no text.

Running a language-guided model with ``shuffle_reports`` / ``null_reports`` tells how much of its
accuracy comes from the matching report. Report text is never printed or logged here: warnings
only carry counts.
"""
from __future__ import annotations

import re
import warnings
from typing import Iterable

import numpy as np


def _sattolo(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random cyclic permutation of range(n) (a single n-cycle, so a derangement for n >= 2)."""
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: this is what makes it a single cycle
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def shuffle_report_sources(reports: dict, seed: int = 0) -> dict:
    """For every case id, the id of the case whose report it receives (see :func:`shuffle_reports`).

    Deterministic for a given set of case ids and seed (case ids are sorted first, so dict order
    does not matter). The mapping is a derangement (no case keeps its own report) and, where
    possible, the received report's text differs from the case's own text.
    """
    ids = sorted(reports.keys())
    n = len(ids)
    if n == 0:
        return {}
    if n == 1:
        raise ValueError("shuffle_reports needs at least two cases (a single case cannot get another case's report)")
    rng = np.random.default_rng(seed)
    # integer id per distinct text (None is its own value); texts are compared, never shown
    text_index: dict = {}
    tid = np.array([text_index.setdefault(reports[c], len(text_index)) for c in ids], dtype=np.int64)

    src = _sattolo(n, rng)  # case ids[i] receives the report of ids[src[i]]
    if len(text_index) > 1:
        idx = np.arange(n)
        for _ in range(3):  # greedy swap repair; a further pass only if the previous one helped
            conflicts = np.flatnonzero(tid[src] == tid)
            fixed = 0
            for i in rng.permutation(conflicts):
                if tid[src[i]] != tid[i]:  # already fixed by an earlier swap
                    continue
                # swap sources of i and j: i gets src[j], j gets src[i]; must stay a derangement and
                # both must end up with a different text
                ok = (tid[src] != tid[i]) & (tid != tid[i]) & (src != i) & (idx != src[i]) & (idx != i)
                cand = np.flatnonzero(ok)
                if cand.size:
                    j = int(cand[rng.integers(0, cand.size)])
                    src[i], src[j] = src[j], src[i]
                    fixed += 1
            if fixed == 0 or not np.any(tid[src] == tid):
                break
        n_same = int(np.count_nonzero(tid[src] == tid))
        if n_same:
            warnings.warn(f"shuffle_reports: {n_same} of {n} cases still receive a report with identical text "
                          f"(one text is shared by more than half of the cases)", stacklevel=3)
    assert not np.any(src == np.arange(n))
    return {ids[i]: ids[int(src[i])] for i in range(n)}


def shuffle_reports(reports: dict, seed: int = 0) -> dict:
    """Give each case the report of another case.

    The permutation is deterministic (seeded ``numpy.random.Generator``, case ids sorted), is a
    derangement, and prefers sources whose text differs from the case's own report (random cyclic
    permutation, then greedy swaps that remove identical-text assignments; this is impossible for
    some cases when one text is shared by more than half of them, and any identical assignments
    left are counted in a warning). If all texts are equal the
    reports are returned unchanged (as a new dict) with a warning. A single case raises
    ValueError. Text is never logged.
    """
    if len(reports) >= 2 and len(set(reports.values())) == 1:
        warnings.warn(f"shuffle_reports: all {len(reports)} reports have identical text; shuffling cannot change "
                      f"anything, returning them as is", stacklevel=2)
        return dict(reports)
    sources = shuffle_report_sources(reports, seed)
    return {case: reports[src] for case, src in sources.items()}


def null_reports(case_ids: Iterable[str]) -> dict:
    """The no-text control: every case gets ``None`` (the model's learned/empty text path)."""
    return {c: None for c in case_ids}


EDITS = ("swap_sides", "swap_zones", "delete_target")
_NEGATED = re.compile(r"^\W*(no|without|negative for)\b", re.IGNORECASE)


def edit_report(report: str, kind: str, target_words: str | None = None) -> str | None:
    """One edited report (the kinds of a wrong report a person makes), or None where the edit changes nothing.

    - ``swap_sides``: left <-> right (mirroring's word table: also typos, "leftmost", merged words);
    - ``swap_zones``: upper <-> lower, superior <-> inferior (a middle zone stays);
    - ``delete_target``: every sentence (as the model splits them) that names the target, i.e. matches the regex
      ``target_words`` and is not a negation ("No nodule ..."); None without ``target_words`` or if no other
      sentence would remain.
    """
    from nnunetv2_tmca.mirroring.words import mirror_report

    if kind == "swap_sides":
        edited = mirror_report(report, "left_right")
    elif kind == "swap_zones":
        edited = mirror_report(report, "upper_lower")
    elif kind == "delete_target":
        if not target_words:
            return None
        from nnunetv2_tmca.text.sentences import split_sentences
        pattern = re.compile(target_words, re.IGNORECASE)
        sentences = split_sentences(report)
        kept = [s for s in sentences if not (pattern.search(s) and not _NEGATED.search(s))]
        edited = " ".join(kept) if kept and len(kept) < len(sentences) else report
    else:
        raise ValueError(f"unknown edit {kind!r}; valid: {', '.join(EDITS)}")
    return None if edited == report else edited
