"""Per-batch report lookup for the trainer: case ids -> token states on the training device.

Holds the unique-text table once on the device; a batch gathers its rows by
``batch['keys']`` (repeated keys simply gather the same row). ``group`` is the id of the
normalised text (identical or near-identical reports share it): the positives of the
contrastive loss; ``group_embeddings`` (num_groups, D) holds each group's frozen pooled embedding, unit length
(the similarity of the "text" positives). Text dropout replaces a row by the learned null text with probability p.
Keys in ``no_report`` (training cases without a report, ``"reports_optional"``) always get the
null text (``null`` = True, group -1); any other key without a row is an error.
"""
from __future__ import annotations

import numpy as np
import torch

from nnunetv2_tmca.reports import normalize_report, text_hash
from nnunetv2_tmca.text.cache import TextEncodingTable


class TextLookup:
    def __init__(self, table: TextEncodingTable, reports: dict, device: torch.device, no_report=()):
        self.table = table
        self.no_report = frozenset(no_report)
        text_of_hash = {text_hash(t): t for t in reports.values()}
        groups: dict[str, int] = {}
        row_group = [groups.setdefault(normalize_report(text_of_hash[h]), len(groups)) if h in text_of_hash else -1 - i
                     for i, h in enumerate(table.hashes)]
        self.num_groups = len(groups)
        self.tokens = torch.from_numpy(table.tokens.astype(np.float32)).to(device)
        self.mask = torch.from_numpy(table.mask).to(device)
        self.row_group = torch.tensor(row_group, dtype=torch.long, device=device)
        pooled = torch.from_numpy(np.asarray(table.pooled, dtype=np.float32))
        first_row = {g: i for i, g in reversed(list(enumerate(row_group))) if g >= 0}
        self.group_embeddings = torch.nn.functional.normalize(
            pooled[[first_row[g] for g in range(self.num_groups)]].reshape(self.num_groups, -1), dim=1).to(device)
        self.device = device

    def batch(self, case_ids, dropout: float = 0.0, generator: torch.Generator | None = None) -> dict:
        case_ids = list(case_ids)
        missing = torch.tensor([c in self.no_report for c in case_ids], dtype=torch.bool)
        known = [c for c, m in zip(case_ids, missing.tolist()) if not m]
        rows = torch.zeros(len(case_ids), dtype=torch.long)
        rows[~missing] = torch.from_numpy(self.table.rows_for(known)) if known else rows[:0]
        null = missing.clone()
        if dropout > 0:
            null |= torch.rand(len(rows), generator=generator) < dropout
        rows, missing, null = rows.to(self.device), missing.to(self.device), null.to(self.device)
        group = torch.where(missing, torch.full_like(rows, -1), self.row_group[rows])
        return {"tokens": self.tokens[rows], "mask": self.mask[rows], "null": null, "group": group}

    def single(self, case_id) -> dict:
        return self.batch([case_id])
