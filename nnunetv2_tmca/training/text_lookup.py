"""Per-batch report lookup for the trainer: case ids -> token states on the training device.

Holds the unique-unit token states once on the device (ragged, ``flat``) and, per unique report, the
indices of its tokens and the sentence each token belongs to (one sentence per report for
``units = "report"``); a batch gathers its rows by ``batch['keys']`` (repeated keys simply gather the
same row). ``group`` is the id of the normalised text (identical or near-identical reports share it, and a report's
rephrasings share the group of the report they rephrase): the positives of the contrastive loss. Text dropout
replaces a row by the learned null text with probability p.
Keys in ``no_report`` (training cases without a report, ``"reports_optional"``) always get the null text
(``null`` = True, group -1); any other key without a report is an error.
"""
from __future__ import annotations

import numpy as np
import torch

from nnunetv2_tmca.mirroring.keys import mirrored_key
from nnunetv2_tmca.reports import normalize_report, text_hash
from nnunetv2_tmca.text.cache import TextEncodingTable
from nnunetv2_tmca.text.place_phrasing import unphrased_key


def text_key(case_id: str, groups, reportless=()) -> str:
    """Lookup key of a case's report after a flip trading ``groups``; a case without a report has no mirrored
    keys and is looked up (as the null text) by its id."""
    return case_id if case_id in reportless else mirrored_key(case_id, groups)


def batch_text_keys(keys, mirrored, report_axes, reportless=()) -> list:
    """Lookup key of each sample's report: its case id, or its mirrored report's key after a flip (``mirrored``:
    the data loader's per-sample flip record, None without text-consistent mirroring)."""
    keys = list(keys)
    if not report_axes.trades_words or mirrored is None:
        return keys
    return [text_key(k, report_axes.groups_for_flip(torch.nonzero(m).flatten().tolist()), reportless)
            for k, m in zip(keys, mirrored)]


def draw_phrasing_keys(keys, phrasing_keys: dict, rng=None) -> list:
    """Each key replaced by one of ``phrasing_keys[key]`` (the case id and its phrasings' keys), drawn uniformly;
    keys without phrasings stay."""
    if not phrasing_keys:
        return list(keys)
    rng = rng or np.random
    return [options[rng.randint(len(options))] if (options := phrasing_keys.get(k)) else k for k in keys]


def report_token_index(table: TextEncodingTable, units_of_report: list) -> tuple[np.ndarray, np.ndarray]:
    """(R, L) indices into ``table.flat`` and (R, L) sentence number of each token (-1: padding)."""
    offsets, lengths = table.offsets, table.lengths
    length = max([1] + [int(lengths[u].sum()) for u in units_of_report])
    index = np.zeros((len(units_of_report), length), dtype=np.int64)
    sentence = np.full((len(units_of_report), length), -1, dtype=np.int64)
    for r, units in enumerate(units_of_report):
        if not units:
            continue
        idx = np.concatenate([np.arange(offsets[u], offsets[u + 1]) for u in units])
        index[r, :len(idx)] = idx
        sentence[r, :len(idx)] = np.repeat(np.arange(len(units)), lengths[units])
    return index, sentence


class TextLookup:
    def __init__(self, table: TextEncodingTable, reports: dict, device: torch.device, no_report=()):
        self.table = table
        self.no_report = frozenset(no_report)
        units = table.units_of_reports(reports)  # report hash -> unit rows
        text_of_hash = {text_hash(t): t for t in reports.values()}
        report_hashes = sorted(units)
        position = {h: i for i, h in enumerate(report_hashes)}
        self.report_of_case = {c: position[text_hash(t)] for c, t in reports.items()}
        index, sentence = report_token_index(table, [units[h] for h in report_hashes])
        groups: dict[str, int] = {}
        # a report's rephrasings (text/place_phrasing.py) mean what it means: they share its group
        for key, text in reports.items():
            if (base := unphrased_key(key)) != key and base in reports:
                text_of_hash[text_hash(text)] = reports[base]
        report_group = [groups.setdefault(normalize_report(text_of_hash[h]), len(groups)) for h in report_hashes]
        self.num_groups = len(groups)
        # one zero row after the table's rows: padding slots gather it, so a batch needs no masking product
        flat = np.asarray(table.flat, dtype=np.float32)
        self.flat = torch.from_numpy(np.concatenate([flat, np.zeros((1, flat.shape[1]), np.float32)])).to(device)
        self.index = torch.from_numpy(np.where(sentence >= 0, index, len(flat))).to(device)
        self.sentence = torch.from_numpy(sentence).to(device)
        self.report_group = torch.tensor(report_group, dtype=torch.long, device=device)
        self.device = device

    def rows_for(self, case_ids) -> torch.Tensor:
        try:
            return torch.tensor([self.report_of_case[c] for c in case_ids], dtype=torch.long)
        except KeyError as e:
            raise KeyError(f"Case {e.args[0]} has no report in the text table ({self.table.path}).") from None

    def batch(self, case_ids, dropout: float = 0.0, generator: torch.Generator | None = None) -> dict:
        case_ids = list(case_ids)
        missing = torch.tensor([c in self.no_report for c in case_ids], dtype=torch.bool)
        known = [c for c, m in zip(case_ids, missing.tolist()) if not m]
        rows = torch.zeros(len(case_ids), dtype=torch.long)
        rows[~missing] = self.rows_for(known) if known else rows[:0]
        null = missing.clone()
        if dropout > 0:
            null |= torch.rand(len(rows), generator=generator) < dropout
        rows, missing, null = rows.to(self.device), missing.to(self.device), null.to(self.device)
        group = torch.where(missing, torch.full_like(rows, -1), self.report_group[rows])
        sentence = self.sentence[rows]
        mask = sentence >= 0
        # the batch's longest report, rounded up to 32 tokens: no columns of padding only, few distinct shapes
        width = min(mask.shape[1], -(-max(1, int(mask.sum(1).max())) // 32) * 32)
        sentence, mask = sentence[:, :width], mask[:, :width]
        rows_index = self.index[rows][:, :width]
        tokens = self.flat[rows_index]
        # token_row: a token's row in the table; equal rows are the same token of the same unit (one sentence
        # number each), so the adapter computes them once (text_adapter.py)
        return {"tokens": tokens, "mask": mask, "sentence": sentence, "null": null, "group": group,
                "token_row": rows_index}

    def single(self, case_id) -> dict:
        return self.batch([case_id])
