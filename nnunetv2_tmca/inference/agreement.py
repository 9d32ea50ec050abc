"""Report-image agreement: does the report fit the image? One score per case, from one extra pass.

A report-guided model follows its report, right or wrong. The image-only pass of the same network
(no report: the planned U-Net through the null bypass) shows what the image itself supports; the
report's pass shows what the report selected. With the foreground probabilities p (with the report)
and q (without), per case:

- support   S = sum(p q) / sum(p)          share of the report's mask that the image supports
- coverage  C = sum(p q) / sum(q)          share of what the image shows that the report's mask covers
- certainty K = 1 - mean_A 4 p (1 - p)     over A = {p > 0.5 or q > 0.5}: 1 when p is 0 or 1 there
- effect    E = 1 - Dice(p > 0.5, q > 0.5) how much the report changed the mask

and the score, in [0, 1], high when report and image agree: ``score = sqrt(S * C) * K``, the geometric
mean of support and coverage (how much the report's mask and the image's own finding overlap, each
side's share) times certainty; 0 when the report's mask is empty but the image shows something, 1 when
both are empty. Why this combination: documentation/agreement.md; its AUROCs: documentation/benchmarks.md,
Agreement score.
``flags`` name what lowered it (:data:`FLAGS`). What it cannot see: a wrong report that names a place
where the image also has a look-alike finding agrees with that image as well as the true one; see
documentation/agreement.md for the measured AUROCs and the limits.
"""
from __future__ import annotations

import numpy as np
import torch

FLAGS = {
    "report-names-target-mask-empty": "a report was given but the mask with it is empty",
    "mask-where-image-shows-nothing": "most of the report's mask lies where the image-only pass finds nothing",
    "image-finding-not-in-report": "most of what the image-only pass finds lies outside the report's mask",
    "uncertain-mask": "the mask with the report is unsure (probabilities near 0.5) where either pass finds something",
    "report-changes-nothing": "the mask with the report is the image-only mask: the report was not used",
}
MIN_FOREGROUND_VOXELS = 1.0   # soft volume below which a mask counts as empty
LOW_SUPPORT = 0.5
LOW_COVERAGE = 0.5
LOW_CERTAINTY = 0.6
NO_EFFECT = 0.02


def foreground_probability(logits: torch.Tensor, has_regions: bool) -> torch.Tensor:
    """(C, *S) network logits -> (*S) probability of any foreground (softmax: 1 - p_background;
    region-based label sets: the largest sigmoid)."""
    logits = logits.float()
    if has_regions:
        return torch.sigmoid(logits).amax(0)
    return 1.0 - torch.softmax(logits, 0)[0]


def _dice(a: torch.Tensor, b: torch.Tensor) -> float:
    total = float(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def agreement_signals(p: torch.Tensor, q: torch.Tensor) -> dict:
    """The signals of the module docstring from p (with the report) and q (image-only), same shape."""
    p, q = p.float().flatten(), q.float().flatten()
    vol_p, vol_q, both = float(p.sum()), float(q.sum()), float((p * q).sum())
    active = (p > 0.5) | (q > 0.5)
    certainty = 1.0 - float((4 * p[active] * (1 - p[active])).mean()) if bool(active.any()) else 1.0
    return {"support": both / vol_p if vol_p >= MIN_FOREGROUND_VOXELS else None,
            "coverage": both / vol_q if vol_q >= MIN_FOREGROUND_VOXELS else None,
            "certainty": certainty, "effect": 1.0 - _dice(p > 0.5, q > 0.5),
            "volume": vol_p, "volume_image_only": vol_q}


def agreement_score(signals: dict) -> tuple[float, list]:
    """(score in [0, 1], flags) from :func:`agreement_signals`."""
    flags = []
    empty = signals["volume"] < MIN_FOREGROUND_VOXELS
    if empty:
        flags.append("report-names-target-mask-empty")
    support = signals["support"]
    if support is not None and support < LOW_SUPPORT:
        flags.append("mask-where-image-shows-nothing")
    if signals["coverage"] is not None and signals["coverage"] < LOW_COVERAGE:
        flags.append("image-finding-not-in-report")
    if signals["certainty"] < LOW_CERTAINTY:
        flags.append("uncertain-mask")
    if signals["effect"] < NO_EFFECT and not empty:
        flags.append("report-changes-nothing")
    if empty:  # nothing with the report: agreement only if the image shows nothing either
        score = 1.0 if signals["volume_image_only"] < MIN_FOREGROUND_VOXELS else 0.0
    else:
        coverage = signals["coverage"] if signals["coverage"] is not None else 0.0  # image-only empty
        score = (support * coverage) ** 0.5 * signals["certainty"]
    return float(min(1.0, max(0.0, score))), flags


def case_agreement(p: torch.Tensor, q: torch.Tensor, relevance: list | None = None) -> dict:
    """The agreement.json record of one case: score, flags, signals and per-sentence relevance (indices only,
    never sentence text; ``effect`` is filled in by ``sentence_effects`` when asked for)."""
    signals = agreement_signals(p, q)
    score, flags = agreement_score(signals)
    sentences = [{"index": k, "relevance": round(float(r), 4), "effect": None}
                 for k, r in enumerate(relevance or [])]
    return {"score": round(score, 4), "flags": flags,
            "signals": {k: (None if v is None else round(float(v), 4)) for k, v in signals.items()},
            "sentences": sentences}


def no_report_record() -> dict:
    """The record of a case predicted without a report (nothing to agree with)."""
    return {"score": None, "flags": ["no-report"], "signals": {}, "sentences": []}


def auroc(positives, negatives) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting one half."""
    pos, neg = np.asarray(list(positives), float), np.asarray(list(negatives), float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))
