"""Which listed cases are written: complete cases only, unique ids, an optional seeded subset."""
from __future__ import annotations

import random
from typing import Dict, List, Optional

from nnunetv2_tmca.dataset_conversion.cases import Case, Problems
from nnunetv2_tmca.dataset_conversion.common import SPLITS, ConversionError, ids_text, info, warn

SUBSAMPLE_SEED = 0


def has_report(case: Case) -> bool:
    return case.report is not None and bool(str(case.report).strip())


def select_cases(cases: List[Case], problems: Problems, *, skip_missing: bool, max_cases: Optional[int],
                 where: str) -> List[Case]:
    """The cases to write: drop incomplete ones (or fail), make ids unique, subsample.

    Missing or empty reports and missing masks are added to ``problems``; without
    ``skip_missing`` any problem is a ConversionError. Report texts are stripped of blanks.
    """
    problems.add("image without report", [c.case_id for c in cases if c.report is None])
    problems.add("empty report text", [c.case_id for c in cases if c.report is not None and not has_report(c)])
    problems.add("image without mask", [c.case_id for c in cases if c.mask is None])
    problems.raise_or_warn(skip_missing, where)
    bad = problems.all_ids()
    cases = [c for c in cases if c.case_id not in bad and has_report(c) and c.mask is not None]
    for c in cases:
        c.report = str(c.report).strip()
    resolve_id_clashes(cases)
    cases = subsample(cases, max_cases)
    require_training_cases(cases, where)
    return cases


def require_training_cases(cases: List[Case], where: str) -> None:
    if not any(c.split in ("train", "val") for c in cases):
        raise ConversionError(f"{where}: no training (train/val) cases left to convert")


def resolve_id_clashes(cases: List[Case]) -> None:
    """Same id within a split -> error; same id in different splits -> prefix with the split name."""
    by_split: Dict[str, Dict[str, List[Case]]] = {}
    for c in cases:
        by_split.setdefault(c.split, {}).setdefault(c.case_id, []).append(c)
    dups = {f"{cid} ({s}: {', '.join(x.source_name for x in cs)})"
            for s, d in by_split.items() for cid, cs in d.items() if len(cs) > 1}
    if dups:
        raise ConversionError(f"Different source files give the same case id after sanitizing: {ids_text(dups)}")
    seen: Dict[str, str] = {}
    renamed: Dict[str, List[str]] = {}
    for split in SPLITS:
        for cid in sorted(by_split.get(split, {})):
            if cid in seen:
                c = by_split[split][cid][0]
                new = f"{split}_{cid}"
                n = 2
                while new in seen or new in by_split.get(split, {}):
                    new = f"{split}{n}_{cid}"
                    n += 1
                c.case_id = new
                renamed.setdefault(split, []).append(cid)
                seen[new] = split
            else:
                seen[cid] = split
    for split, ids in renamed.items():
        warn(f"{len(ids)} {split} case ids also occur in an earlier split; they were prefixed with "
             f"'{split}_' so that case ids (and reports.json keys) stay unique: {ids_text(ids)}")


def subsample(cases: List[Case], max_cases: Optional[int]) -> List[Case]:
    """At most ``max_cases`` cases per split, a seeded random subset; ``None`` keeps all."""
    if max_cases is None:
        return cases
    if int(max_cases) < 1:
        raise ConversionError(f"max_cases must be >= 1, got {max_cases}")
    out = []
    for split in SPLITS:
        sc = sorted((c for c in cases if c.split == split), key=lambda c: c.case_id)
        if len(sc) > max_cases:
            sc = random.Random(SUBSAMPLE_SEED).sample(sc, int(max_cases))
            info(f"--max_cases {max_cases}: using {max_cases} random {split} cases (seed {SUBSAMPLE_SEED})")
        out.extend(sorted(sc, key=lambda c: c.case_id))
    return out
