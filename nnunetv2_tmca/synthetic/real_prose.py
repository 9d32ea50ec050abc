"""Real radiology prose as the synthetic dataset's reports (``report_style="real"``).

The corpus is a JSON file: report key -> report text, or report key -> sections (such as CT-RATE's
``Findings_EN`` / ``Impressions_EN``: the sections whose names contain "finding", then "impression", become
two paragraphs, "Findings: ..." and "Impression: ..."). The patient of a key is group 1 of
``patient_pattern`` (default: CT-RATE's ``<patient>_<reconstruction letter>``; a key it does not match is
its own patient). The patients are split (seeded) into a training and a test pool, so no patient gives text
to both training and test cases. A case's report is a body report of its split with every sentence that
mentions the target kind removed ("nodul...", negated or not), plus one target sentence of its split
(:func:`~.lung_places.target_finding`: a present lung nodule at 1-3 definite places) inserted at a
uniformly random sentence position. The sentence's places decide the target lesions' cells; the patient's
right is the image's left (radiological convention, :data:`IMAGE_SIDE`).

Nothing here prints or logs report text: records hold keys, patients, cells and counts.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from nnunetv2_tmca.reports import ReportError
from nnunetv2_tmca.synthetic.lung_places import mentions_kind, target_finding
from nnunetv2_tmca.text.sentences import split_sentences

DEFAULT_PATIENT_PATTERN = r"^(.+)_[a-z]+$"
META_FILENAME = "tmca_report_meta.json"
SECTIONS = (("finding", "Findings"), ("impression", "Impression"))  # (key word, paragraph title)
IMAGE_SIDE = {"right": "left", "left": "right"}  # patient side -> image side (the patient's right: image left)
SPLIT_NAMES = ("train", "test")
MAX_DRAWS = 50  # draws of (body, sentence, position) per case until the splitter keeps the sentence apart
Paragraph = Tuple[Optional[str], Tuple[str, ...]]  # (title or None, sentences)


@dataclass(frozen=True)
class CorpusReport:
    key: str
    patient: str
    paragraphs: Tuple[Paragraph, ...]


@dataclass(frozen=True)
class TargetSentence:
    text: str
    cells: Tuple[Tuple[str, str], ...]  # (patient side, zone)
    key: str
    patient: str


@dataclass
class ProsePool:
    """One split's text: its patients, its body reports (target kind removed), its target sentences."""
    patients: List[str]
    bodies: List[CorpusReport]
    targets: List[TargetSentence]
    kind: str = "nodule"


# ----------------------------------------------------------------------------- the corpus
def _sections(value: dict, path: str, key: str) -> List[Tuple[str, str]]:
    out = []
    for word, title in SECTIONS:
        names = [name for name in value if word in str(name).lower()]
        if len(names) > 1:
            raise ReportError(f"Report corpus {path}: report {key!r} has {len(names)} sections whose names contain "
                              f"{word!r} ({', '.join(map(repr, names))}); keep one", path, [key])
        text = value[names[0]] if names else None
        if text is not None and not isinstance(text, str):
            raise ReportError(f"Report corpus {path}: section {names[0]!r} of report {key!r} is not a string",
                              path, [key])
        if text and text.strip():
            out.append((title, text))
    if not any(word in str(name).lower() for name in value for word, _ in SECTIONS):
        raise ReportError(f"Report corpus {path}: report {key!r} has no section whose name contains 'finding' or "
                          f"'impression'", path, [key])
    return out


def load_report_corpus(path: str, patient_pattern: str = DEFAULT_PATIENT_PATTERN) -> List[CorpusReport]:
    """The corpus's reports, sorted by key, split into paragraphs and sentences; ReportError (a ValueError)
    naming the file and the key for a missing file, invalid JSON or an entry of the wrong form."""
    path = os.fspath(path)
    pattern = compile_patient_pattern(patient_pattern)
    if not os.path.isfile(path):
        raise ReportError(f"Report corpus not found: {path}", path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except UnicodeDecodeError:
        raise ReportError(f"Report corpus {path} is not valid UTF-8", path) from None
    except json.JSONDecodeError as e:
        raise ReportError(f"Report corpus {path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                          path) from None
    if not isinstance(data, dict) or not data:
        raise ReportError(f"Report corpus {path} must be a non-empty JSON object (key -> report text or key -> "
                          f"sections)", path)
    reports = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, str):
            parts = [(None, p) for p in re.split(r"\n\s*\n", value)]
        elif isinstance(value, dict):
            parts = _sections(value, path, key)
        else:
            raise ReportError(f"Report corpus {path}: report {key!r} is {type(value).__name__}, not a string or an "
                              f"object of sections", path, [key])
        paragraphs = tuple((title, tuple(split_sentences(text))) for title, text in parts)
        paragraphs = tuple(p for p in paragraphs if p[1])
        if not paragraphs:
            raise ReportError(f"Report corpus {path}: report {key!r} has no text", path, [key])
        reports.append(CorpusReport(key, patient_of(key, pattern), paragraphs))
    return reports


def compile_patient_pattern(patient_pattern: str) -> re.Pattern:
    try:
        pattern = re.compile(patient_pattern)
    except re.error as e:
        raise ValueError(f"patient_pattern {patient_pattern!r} is not a valid regular expression: {e}") from None
    if pattern.groups < 1:
        raise ValueError(f"patient_pattern {patient_pattern!r} needs a group: group 1 is the patient")
    return pattern


def patient_of(key: str, pattern: re.Pattern) -> str:
    """Group 1 of ``pattern`` searched in ``key``; the key itself when it does not match."""
    m = pattern.search(key)
    return m.group(1) if m and m.group(1) else key


def split_patients(patients: Sequence[str], test_fraction: float, seed: int) -> Tuple[List[str], List[str]]:
    """(training patients, test patients), seeded; ``round(test_fraction * n)`` test patients, at least one
    of each when 0 < test_fraction and there are two or more patients."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    patients = sorted(set(patients))
    n_test = int(round(test_fraction * len(patients)))
    if test_fraction > 0 and len(patients) >= 2:
        n_test = min(max(n_test, 1), len(patients) - 1)
    order = np.random.default_rng([seed, 2, 0]).permutation(len(patients))
    test = sorted(patients[i] for i in order[:n_test])
    return sorted(set(patients) - set(test)), test


def build_pool(reports: Sequence[CorpusReport], patients: Sequence[str], kind: str = "nodule") -> ProsePool:
    """The split's bodies (reports of ``patients`` without any sentence that mentions ``kind``, if a sentence
    is left) and its distinct target sentences (first source key kept)."""
    chosen = set(patients)
    bodies, targets, seen = [], [], set()
    for report in reports:
        if report.patient not in chosen:
            continue
        kept = tuple((title, tuple(s for s in sentences if not mentions_kind(s, kind)))
                     for title, sentences in report.paragraphs)
        kept = tuple(p for p in kept if p[1])
        if kept:
            bodies.append(CorpusReport(report.key, report.patient, kept))
        for _, sentences in report.paragraphs:
            for sentence in sentences:
                cells = target_finding(sentence, kind) if sentence not in seen else None
                if cells:
                    seen.add(sentence)
                    targets.append(TargetSentence(sentence, tuple(cells), report.key, report.patient))
    return ProsePool(sorted(chosen), bodies, targets, kind)


def parser_counts(reports: Sequence[CorpusReport], kind: str = "nodule") -> Dict[str, int]:
    """Distinct sentences of the corpus that mention ``kind``, and how many of them the parser accepted."""
    mentions = {s for r in reports for _, ss in r.paragraphs for s in ss if mentions_kind(s, kind)}
    accepted = sum(1 for s in mentions if target_finding(s, kind))
    return {"mention_sentences": len(mentions), "accepted": accepted, "rejected": len(mentions) - accepted}


# ----------------------------------------------------------------------------- one case's report
def _terminated(sentence: str) -> str:
    return sentence if sentence[-1:] in ".!?" else sentence + "."


def _assemble(paragraphs: Sequence[Paragraph]) -> str:
    return "\n\n".join((f"{title}: " if title else "") + " ".join(_terminated(s) for s in sentences)
                       for title, sentences in paragraphs)


def third_of(index: int, num_sentences: int) -> str:
    """"first" / "middle" / "last": the third of the report's sentences that ``index`` falls in."""
    return ("first", "middle", "last")[min(2, index * 3 // num_sentences)]


def _insert(body: CorpusReport, sentence: str, index: int) -> str:
    """The body's text with ``sentence`` as its sentence number ``index`` (in the paragraph of the sentence it
    goes before; after the last one at the end)."""
    flat = [(p, s) for p, (_, sentences) in enumerate(body.paragraphs) for s in sentences]
    flat.insert(index, (flat[index][0] if index < len(flat) else flat[-1][0], sentence))
    return _assemble([(title, tuple(s for p, s in flat if p == i)) for i, (title, _) in enumerate(body.paragraphs)])


def _is_unit(unit: str, sentence: str) -> bool:
    """Whether the splitter's ``unit`` is ``sentence`` alone (after a paragraph title such as "Findings: ")."""
    sentence = _terminated(sentence)
    return unit.endswith(sentence) and re.fullmatch(r"(\w+: )?", unit[:len(unit) - len(sentence)]) is not None


def draw_report(pool: ProsePool, rng: np.random.Generator, empty: bool = False) -> Tuple[str, dict]:
    """(report text, record) of one case: a body of ``pool`` with one of its target sentences at a uniformly
    random sentence position (none with ``empty``). The record holds the position among the sentences
    :func:`~nnunetv2_tmca.text.sentences.split_sentences` finds in the text, the cells (patient and image
    side) and the source keys and patients, never text. A draw in which the splitter would merge the target
    sentence with a neighbour is drawn again."""
    for _ in range(MAX_DRAWS):
        body = pool.bodies[int(rng.integers(len(pool.bodies)))]
        record = {"body_key": body.key, "body_patient": body.patient}
        if empty:
            text = _assemble(body.paragraphs)
            record.update(target_index=None, num_sentences=len(split_sentences(text)), third=None, cells=[],
                          image_cells=[], sentence_key=None, sentence_patient=None)
            return text, record
        target = pool.targets[int(rng.integers(len(pool.targets)))]
        text = _insert(body, target.text, int(rng.integers(sum(len(s) for _, s in body.paragraphs) + 1)))
        units = split_sentences(text)
        hits = [i for i, unit in enumerate(units) if mentions_kind(unit, pool.kind)]
        if len(hits) == 1 and _is_unit(units[hits[0]], target.text):
            record.update(target_index=hits[0], num_sentences=len(units), third=third_of(hits[0], len(units)),
                          cells=[list(c) for c in target.cells],
                          image_cells=[list(c) for c in image_cells(target.cells)],
                          sentence_key=target.key, sentence_patient=target.patient)
            return text, record
    raise ValueError(f"no report of {len(pool.bodies)} bodies and {len(pool.targets)} target sentences kept the "
                     f"target sentence apart from its neighbours in {MAX_DRAWS} draws")


def image_cells(cells: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """Patient-side cells -> image cells: the patient's right is the image's left (small index)."""
    return [(IMAGE_SIDE[side], zone) for side, zone in cells]


# ----------------------------------------------------------------------------- both splits
@dataclass
class RealProse:
    """The corpus split by patient into the training and the test pool (``pools[0]``, ``pools[1]``)."""
    corpus: str
    patient_pattern: str
    test_fraction: float
    pools: Tuple[ProsePool, ProsePool]
    counts: Dict[str, int]

    @classmethod
    def from_file(cls, path: str, patient_pattern: str = DEFAULT_PATIENT_PATTERN, test_fraction: float = 0.3,
                  seed: int = 0, needs: Sequence[Tuple[int, int]] = ((1, 1), (1, 1)),
                  kind: str = "nodule") -> "RealProse":
        """needs: per split (cases, cases with a target); ValueError when a split that has cases has no patient,
        no body or (for cases with a target) no target sentence."""
        reports = load_report_corpus(path, patient_pattern)
        patients = split_patients([r.patient for r in reports], test_fraction, seed)
        pools = tuple(build_pool(reports, p, kind) for p in patients)
        for name, pool, (n_cases, n_targets) in zip(SPLIT_NAMES, pools, needs):
            what = ("patients" if not pool.patients else "body reports" if not pool.bodies
                    else f"{kind} sentences with definite lung places" if not pool.targets and n_targets else None)
            if n_cases and what:
                raise ValueError(f"Report corpus {path}: the {name} pool has no {what} ({len(pool.patients)} "
                                 f"patients, {len(pool.bodies)} body reports, {len(pool.targets)} target "
                                 f"sentences; test_fraction={test_fraction}) but {n_cases} {name} cases need one; "
                                 f"use a larger corpus or another test_fraction")
        return cls(os.fspath(path), patient_pattern, float(test_fraction), pools, parser_counts(reports, kind))

    def draw(self, split: int, rng: np.random.Generator, empty: bool = False) -> Tuple[str, dict]:
        """:func:`draw_report` from the pool of ``split`` (0 training, 1 test)."""
        return draw_report(self.pools[split], rng, empty)

    def summary(self) -> dict:
        """Counts per split and of the parser, for tmca_report_meta.json."""
        return {"corpus": os.path.basename(self.corpus), "patient_pattern": self.patient_pattern,
                "test_fraction": self.test_fraction, "laterality": "patient", "parser": dict(self.counts),
                "splits": {name: {"patients": len(p.patients), "body_reports": len(p.bodies),
                                  "target_sentences": len(p.targets)} for name, p in zip(SPLIT_NAMES, self.pools)}}
