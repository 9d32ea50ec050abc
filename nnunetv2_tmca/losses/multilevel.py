"""Multi-level contrastive alignment: TSSD region term + pixel term at several decoder stages.

L_align = sum_s w_s [ lambda_r L_region,s + lambda_p L_pixel,s ],  w normalised to sum 1.
The trainer adds it to nnU-Net's loss: L = L_nnU-Net + lambda(t) L_align, with lambda(t)
warmed up linearly. Settings (each one switch of an ablation):
  ``region_pooling``: "target" (TSSD: v_i pooled inside the target) or "image" (one whole-image pooled
    embedding per case, every case with a report takes part);
  ``positives``, ``positive_threshold``: which pairs are positives of the soft targets (see tssd.py);
  ``pixel_weight`` = 0 drops the pixel term.
Under DDP the region term's gradient is scaled so that DDP's average equals
the single-process gradient on the concatenated batch (distributed.py).
Why two aligned stages rather than one: documentation/benchmarks.md, Nested ablations.
Inputs are plain tensors: the per-stage outputs of the alignment heads, a foreground mask per
stage, the text-group id of each row and whether the row carries a real report.
"""
from __future__ import annotations

import torch
from torch import nn

from nnunetv2_tmca.losses.distributed import gather_rows, world_scaled
from nnunetv2_tmca.losses.pixel import pixel_alignment_loss
from nnunetv2_tmca.losses.tssd import (
    positive_pairs,
    region_embeddings,
    semantic_distance,
    soft_contrastive,
    target_descriptor,
)

POSITIVES = ("group", "target")


class MultiLevelAlignmentLoss(nn.Module):
    def __init__(self, stage_weights: dict, tau: float = 0.1, region_weight: float = 1.0,
                 pixel_weight: float = 1.0, region_pooling: str = "target",
                 positives: str = "group", positive_threshold: float = 0.95):
        super().__init__()
        if region_pooling not in ("target", "image"):
            raise ValueError(f"region_pooling must be 'target' or 'image', not {region_pooling!r}")
        if positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, not {positives!r}")
        total = sum(stage_weights.values())
        self.stage_weights = {int(s): w / total for s, w in stage_weights.items() if w > 0}
        self.tau, self.region_weight, self.pixel_weight = tau, region_weight, pixel_weight
        self.region_pooling = region_pooling
        self.positives, self.positive_threshold = positives, positive_threshold

    def _similarity(self, descriptors: torch.Tensor | None) -> torch.Tensor | None:
        return descriptors @ descriptors.t() if self.positives == "target" else None

    def forward(self, stage_outputs: dict, stage_targets: dict, group_ids: torch.Tensor,
                has_report: torch.Tensor, stage_pixel_valid: dict | None = None,
                pixel_rows: torch.Tensor | None = None):
        """stage_outputs[s]: dict(pixel_emb, text_emb, logits); stage_targets[s]: (B, 1, *S) in {0,1}.

        ``pixel_rows`` (default: ``has_report``) selects the rows of the pixel term; rows with the null
        text may take part so that the no-report target map learns the image-only target.

        Returns (loss, {'region': float, 'pixel': float}).
        """
        total, parts = 0.0, {"region": 0.0, "pixel": 0.0}
        for s, w in self.stage_weights.items():
            out, target = stage_outputs[s], stage_targets[s]
            valid_px = stage_pixel_valid.get(s) if stage_pixel_valid else None
            mask = target if valid_px is None else target * valid_px
            pooling_mask = torch.ones_like(target) if self.region_pooling == "image" else mask
            v, has_target = region_embeddings(out["pixel_emb"], pooling_mask, out.get("pixel_inv_norm"))
            descriptors = (target_descriptor(mask),) if self.positives == "target" else ()
            v_all, t_all, g_all, tgt_all, rep_all, *d_all, _ = gather_rows(
                v, out["text_emb"], group_ids, has_target & has_report, has_report, *descriptors)
            positives = positive_pairs(g_all, self._similarity(d_all[0] if d_all else None),
                                       self.positive_threshold)
            region = world_scaled(soft_contrastive(semantic_distance(v_all, t_all), positives, tgt_all, rep_all,
                                                   self.tau))
            pixel = pixel_alignment_loss(out["logits"], target, has_report if pixel_rows is None else pixel_rows,
                                         valid_px) \
                if self.pixel_weight > 0 else region * 0
            total = total + w * (self.region_weight * region + self.pixel_weight * pixel)
            parts["region"] += w * float(region.detach())
            parts["pixel"] += w * float(pixel.detach())
        return total, parts
