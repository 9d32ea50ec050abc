"""Datasets where only some training cases have a report (the few-reports curve; documentation/benchmarks.md,
Few reports).

``choose_cases_with_report(ids, f, seed)``: a seeded share f of the cases, round(f * n) of them, taken
from one seeded permutation, so the sets are nested over fractions (10 % within 25 % within 50 %).
``keep_reports_of(folder, keep, training_cases)``: removes the reports of the other training cases from
``reports.json`` (test and validation reports stay) and sets ``dataset.json`` ``"tmca":
{"reports_optional": true}``. ``partial_reports_copy``: a new raw dataset whose image and label folders
are links to an existing one, with its reports thinned that way, and its splits copied (fold 0 unchanged).
Nothing is printed but counts and case ids.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

from nnunetv2_tmca.reports import REPORTS_FILENAME, REPORTS_OPTIONAL_KEY, atomic_write_json, load_reports

SPLITS_FILENAME = "splits_final.json"


def choose_cases_with_report(case_ids, fraction: float, seed: int = 0) -> list:
    """The sorted ids of round(fraction * n) cases: a prefix of one seeded permutation of the sorted ids."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"report fraction must be in [0, 1], got {fraction}")
    ids = sorted(case_ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    return sorted(ids[i] for i in order[:int(round(fraction * len(ids)))])


def keep_reports_of(raw_folder, keep, training_cases) -> list:
    """Drop the reports of ``training_cases`` not in ``keep`` from ``raw_folder/reports.json`` and switch
    ``reports_optional`` on in its ``dataset.json`` (both written atomically). Returns the dropped ids."""
    raw_folder = os.fspath(raw_folder)
    path = os.path.join(raw_folder, REPORTS_FILENAME)
    reports = load_reports(path)
    dropped = sorted(set(training_cases) - set(keep))
    dataset_json_path = os.path.join(raw_folder, "dataset.json")
    with open(dataset_json_path, encoding="utf-8-sig") as f:
        dataset_json = json.load(f)
    tmca = dataset_json.setdefault("tmca", {})
    tmca[REPORTS_OPTIONAL_KEY] = True
    atomic_write_json({c: t for c, t in reports.items() if c not in set(dropped)}, path)
    atomic_write_json(dataset_json, dataset_json_path)
    return dropped


def eligible_training_cases(raw_folder, splits_file: str | None = None) -> list:
    """Fold 0's training cases of ``splits_file`` when given and present, else every training case."""
    from nnunetv2_tmca.reports import raw_dataset_case_ids

    if splits_file and os.path.isfile(splits_file):
        with open(splits_file) as f:
            return sorted(json.load(f)[0]["train"])
    return raw_dataset_case_ids(raw_folder)[0]


def thin_reports(raw_folder, fraction: float, seed: int = 0, splits_file: str | None = None) -> list:
    """Keep the reports of a seeded ``fraction`` of the eligible training cases of ``raw_folder`` (fold 0's
    training cases of ``splits_file`` if given, else all), switch ``reports_optional`` on; returns the dropped ids."""
    if splits_file and not os.path.isfile(splits_file):
        raise FileNotFoundError(f"{splits_file}: the splits are needed to keep fold 0's validation reports")
    eligible = eligible_training_cases(raw_folder, splits_file)
    return keep_reports_of(raw_folder, choose_cases_with_report(eligible, fraction, seed), eligible)


def partial_reports_copy(source_folder: str, raw_root: str, dataset_id: int, fraction: float, seed: int = 0,
                         preprocessed_root: str | None = None, use_splits: bool = False) -> str:
    """``raw_root/Dataset{id}_{name}R{pct}``: links to the source's images and labels, its dataset.json and
    reports.json with the reports of only ``fraction`` of the eligible training cases (fold 0's training cases
    if ``use_splits``, else all; the source's ``splits_final.json`` is copied into ``preprocessed_root``).
    Returns the folder; an existing folder of that name is reused as it is."""
    name = os.path.basename(os.path.normpath(source_folder)).split("_", 1)[1]
    folder = os.path.join(raw_root, f"Dataset{int(dataset_id):03d}_{name}R{int(round(100 * fraction)):03d}")
    source_splits = os.path.join(preprocessed_root, os.path.basename(os.path.normpath(source_folder)),
                                 SPLITS_FILENAME) if preprocessed_root else None
    if os.path.isdir(folder):
        return folder
    partial = os.path.join(raw_root, f".incomplete_{os.path.basename(folder)}")  # not a Dataset* name
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for entry in sorted(os.listdir(source_folder)):
        src = os.path.join(os.path.abspath(source_folder), entry)
        if os.path.isdir(src):
            os.symlink(src, os.path.join(partial, entry))
        elif entry in ("dataset.json", REPORTS_FILENAME):
            shutil.copyfile(src, os.path.join(partial, entry))
    thin_reports(partial, fraction, seed, source_splits if use_splits else None)
    if use_splits:
        target = os.path.join(preprocessed_root, os.path.basename(folder))
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(source_splits, os.path.join(target, SPLITS_FILENAME))
    os.rename(partial, folder)
    return folder
