"""Clinical reports of a raw nnU-Net dataset: loading, validation and small text helpers.

A dataset with reports has a file ``reports.json`` next to its ``dataset.json`` in
``$nnUNet_raw/DatasetXXX_Name/``. It is one JSON object that maps case id -> report text
(or case id -> ``{"text": "...", ...}``) for training (imagesTr) and test (imagesTs) cases.
See ``text_reports/README.md`` for the format.

Reports are patient data: nothing here ever puts report text into an exception message,
a log line or a print. Messages name the file, case ids and counts only.
No torch import on purpose (this module is used by light-weight tools and checks).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from typing import Callable, Iterable, Sequence

from nnunetv2_tmca.errors import TMCAUserError
from nnunetv2_tmca.io_utils import atomic_write_json, find_raw_dataset_folder  # noqa: F401 (re-exported)

REPORTS_FILENAME = "reports.json"
MAX_IDS_IN_MESSAGE = 10

__all__ = [
    "REPORTS_FILENAME", "ReportError", "load_reports", "raw_dataset_case_ids",
    "check_reports_cover_cases", "load_dataset_reports", "text_hash", "normalize_report",
    "atomic_write_json", "find_raw_dataset_folder", "reports_optional", "REPORTS_OPTIONAL_KEY",
]
REPORTS_OPTIONAL_KEY = "reports_optional"  # dataset.json: "tmca": {"reports_optional": true}


class ReportError(TMCAUserError, ValueError):
    """Bad reports input. The message names the file and case ids, never report text.

    Attributes: ``path`` (the file concerned) and ``case_ids`` (all offending ids, sorted).
    """

    def __init__(self, message: str, path: str | None = None, case_ids: Iterable[str] = ()):
        super().__init__(message)
        self.path = path
        self.case_ids = sorted(case_ids)


def format_ids(ids: Iterable[str], limit: int = MAX_IDS_IN_MESSAGE) -> str:
    """``"3 case ids: 'a', 'b', 'c'"``; at most ``limit`` ids are shown, then ``(and N more)``."""
    ids = sorted(ids)
    shown = ", ".join(repr(i) for i in ids[:limit])
    rest = f" (and {len(ids) - limit} more)" if len(ids) > limit else ""
    return f"{len(ids)} case id{'' if len(ids) == 1 else 's'}: {shown}{rest}"


class _Pairs(list):
    """A decoded JSON object kept as its (key, value) pairs, so duplicate keys stay visible."""


def _duplicates(pairs: Sequence[tuple]) -> list[str]:
    seen, dups = set(), set()
    for k, _ in pairs:
        (dups if k in seen else seen).add(k)
    return sorted(dups)


def _read_json_pairs(path: str):
    """Parse ``path`` (UTF-8, optional BOM) with every JSON object returned as ``_Pairs``."""
    if not os.path.isfile(path):
        raise ReportError(f"Reports file not found: {path}", path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ReportError(f"Reports file {path} is not valid UTF-8 (bad byte at offset {e.start}). "
                          f"Save it as UTF-8.", path) from None
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as e:
        # e.msg is a fixed parser message; never include e.doc (the file content)
        raise ReportError(f"Reports file {path} is not valid JSON: {e.msg} at line {e.lineno} "
                          f"column {e.colno}", path) from None
    except RecursionError:
        raise ReportError(f"Reports file {path} is nested too deeply to be a reports file (it must be one JSON "
                          f"object mapping case id -> report text).", path) from None


def load_reports(path) -> dict[str, str]:
    """Read and validate a reports file; returns case id -> report text (stripped).

    Each value is a string or an object with a string ``"text"`` (other fields ignored).
    All problems are collected and raised together as one ReportError naming the file
    and the offending case ids: duplicate case ids (also duplicate fields inside one
    case's object), empty ids or ids with surrounding whitespace, values of a wrong type,
    empty or whitespace-only texts.
    """
    path = os.fspath(path)
    data = _read_json_pairs(path)
    if not isinstance(data, _Pairs):
        raise ReportError(f"Reports file {path} must contain a JSON object (case id -> report text) "
                          f"at the top level, found {_json_type(data)}", path)
    problems: list[tuple[str, list[str]]] = []
    dups = _duplicates(data)
    if dups:
        problems.append(("duplicate case ids (JSON would silently keep only the last one)", dups))
    bad_ids = sorted({k for k, _ in data if not k.strip() or k != k.strip()})
    if bad_ids:
        problems.append(("case ids that are empty or have leading/trailing whitespace", bad_ids))
    bad_type, dup_fields, empty, reports = set(), set(), set(), {}
    for case_id, value in data:
        if isinstance(value, _Pairs):
            if _duplicates(value):
                dup_fields.add(case_id)
            value = dict(value).get("text")
        if not isinstance(value, str):
            bad_type.add(case_id)
        elif not value.strip():
            empty.add(case_id)
        else:
            reports[case_id] = value.strip()
    if dup_fields:
        problems.append(("objects with duplicate fields", sorted(dup_fields)))
    if bad_type:
        problems.append(('values that are neither a string nor an object with a string "text"',
                         sorted(bad_type)))
    if empty:
        problems.append(("empty or whitespace-only report texts", sorted(empty)))
    if problems:
        lines = [f"  - {what}: {format_ids(ids)}" for what, ids in problems]
        all_ids = set().union(*(ids for _, ids in problems))
        raise ReportError(f"Invalid reports file {path}:\n" + "\n".join(lines), path, all_ids)
    return reports


def _json_type(value) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _load_dataset_json(raw_dataset_folder: str) -> dict:
    dj = os.path.join(raw_dataset_folder, "dataset.json")
    if not os.path.isfile(dj):
        raise FileNotFoundError(f"dataset.json not found: {dj}")
    with open(dj, "r", encoding="utf-8-sig") as f:
        return json.load(f)


def raw_dataset_case_ids(raw_dataset_folder) -> tuple[list[str], list[str]]:
    """Returns (training case ids, test case ids), both sorted.

    Training ids come from ``dataset.json["dataset"]`` when present, else from ``imagesTr``
    the way nnU-Net finds them. Test ids are the cases in ``imagesTs`` (if it exists) that
    have a channel-0 file ``<case>_0000<file_ending>``.
    """
    from nnunetv2.utilities.utils import get_identifiers_from_splitted_dataset_folder

    folder = os.fspath(raw_dataset_folder)
    dataset_json = _load_dataset_json(folder)
    file_ending = dataset_json["file_ending"]
    if "dataset" in dataset_json:
        train = sorted(str(k) for k in dataset_json["dataset"].keys())
    else:
        images_tr = os.path.join(folder, "imagesTr")
        if not os.path.isdir(images_tr):
            raise FileNotFoundError(f"imagesTr folder not found: {images_tr}")
        train = sorted(str(i) for i in get_identifiers_from_splitted_dataset_folder(images_tr, file_ending))
    test = []
    images_ts = os.path.join(folder, "imagesTs")
    if os.path.isdir(images_ts):
        pattern = re.compile(r"(.+)_0000" + re.escape(file_ending))
        test = sorted(m.group(1) for f in os.listdir(images_ts) if (m := pattern.fullmatch(f))
                      and os.path.isfile(os.path.join(images_ts, f)))
    return train, test


def check_reports_cover_cases(reports: dict, training_case_ids: Iterable[str], path,
                              known_extra_ids: Iterable[str] = (),
                              logger: Callable[[str], object] = print, optional: bool = False) -> list[str]:
    """Every training case must have a report, else ReportError (count + first ids), unless ``optional``
    (``dataset.json`` ``"tmca": {"reports_optional": true}``): then cases without one train with the null text.

    Reports for ids that are neither training cases nor ``known_extra_ids`` (e.g. imagesTs
    cases) are not an error: they are reported through ``logger`` and returned, sorted.
    """
    path = os.fspath(path)
    training = set(training_case_ids)
    missing = training - set(reports)
    if missing and not optional:
        raise ReportError(f"Reports file {path} has no report for {len(missing)} of {len(training)} "
                          f"training cases; missing {format_ids(missing)}. Every case in imagesTr "
                          f"needs a report, unless dataset.json says \"tmca\": {{\"{REPORTS_OPTIONAL_KEY}\": true}}: "
                          f"then cases without a report train with the learned null text.", path, missing)
    unknown = sorted(set(reports) - training - set(known_extra_ids))
    if unknown:
        logger(f"WARNING: {path} has reports for {len(unknown)} ids that are neither training nor "
               f"test cases (ignored): {format_ids(unknown)}")
    return unknown


def reports_optional(dataset_json: dict, path: str = "dataset.json") -> bool:
    """``dataset_json["tmca"]["reports_optional"]`` (default False); anything but a JSON boolean is an error."""
    tmca = dataset_json.get("tmca") or {}
    value = tmca.get(REPORTS_OPTIONAL_KEY, False) if isinstance(tmca, dict) else False
    if not isinstance(value, bool):
        raise ReportError(f'{path}: "tmca": {{"{REPORTS_OPTIONAL_KEY}": ...}} must be true or false, '
                          f"found {_json_type(value)}", path)
    return value


def load_dataset_reports(raw_dataset_folder, logger: Callable[[str], object] = print) -> dict[str, str]:
    """Load ``reports.json`` of a raw dataset folder and check it covers all training cases.

    Training cases without a report are an error naming them, unless the raw ``dataset.json`` says
    ``"tmca": {"reports_optional": true}``. imagesTs case ids count as known. A case id present in
    both imagesTr and imagesTs is an error (its report would be ambiguous). Logs counts only;
    returns case id -> text for the training and test cases (reports of unknown ids are ignored:
    not returned, never encoded); no report at all is an error.
    """
    folder = os.fspath(raw_dataset_folder)
    path = os.path.join(folder, REPORTS_FILENAME)
    if not os.path.isfile(path):
        raise ReportError(f"No {REPORTS_FILENAME} found at {path}. Put a JSON object mapping every "
                          f"case id (imagesTr and imagesTs) to its report text next to dataset.json "
                          f"(format: text_reports/README.md in nnunetv2_tmca).", path)
    reports = load_reports(path)
    optional = reports_optional(_load_dataset_json(folder), os.path.join(folder, "dataset.json"))
    train, test = raw_dataset_case_ids(folder)
    both = set(train) & set(test)
    if both:
        raise ReportError(f"Case ids must be unique across imagesTr and imagesTs, but {format_ids(both)} "
                          f"appear in both; their reports in {path} would be ambiguous.", path, both)
    unknown = check_reports_cover_cases(reports, train, path, known_extra_ids=test, logger=logger, optional=optional)
    n_test = len(set(test) & set(reports))
    n_train = len(set(train) & set(reports))
    partial = f" ({n_train} of {len(train)} training cases have a report, {len(train) - n_train} train with the " \
              f"null text: {REPORTS_OPTIONAL_KEY})" if optional else ""
    logger(f"{path}: {len(reports)} reports for {len(train)} training cases, "
           f"{n_test} of {len(test)} test cases ({len(unknown)} unknown ids){partial}")
    ignored = set(unknown)
    known = {k: v for k, v in reports.items() if k not in ignored}
    if not known:
        raise ReportError(f"Reports file {path} holds no report of a training or test case: train the image-only "
                          f"nnUNetTrainer, or add reports.", path)
    return known


def text_hash(text: str) -> str:
    """sha256 hex digest of the exact UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_report(text: str) -> str:
    """Canonical form for "the same or nearly the same report".

    Unicode NFKC, case-folded (a stronger lower-case), every punctuation character replaced
    by a space, whitespace collapsed to single spaces and stripped.
    ``"Upper left lung."`` and ``"upper  left lung"`` both give ``"upper left lung"``.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())
