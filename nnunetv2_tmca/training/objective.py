"""The training objective of nnUNetTrainerTMCA.

L = L_nnU-Net(y_hat, y) + lambda(t) L_align + w_plain L_nnU-Net(y_hat_plain, y)

L_nnU-Net is nnU-Net's DC+CE with deep supervision on the report-guided output; L_align the
multi-level alignment loss (losses/multilevel.py) on the aligned decoder stages, with the
foreground mask of each stage from the deep-supervision targets; lambda(t) rises linearly from 0
to lambda over the first ``warmup_fraction`` of all iterations. The last term (``plain_path_weight``
> 0) trains the planned decoder's output on the same encoder features, the no-report path, on every row.
"""
from __future__ import annotations

import torch


def warmed_up_weight(weight: float, warmup_fraction: float, done: int, total: int) -> float:
    """lambda(t) = lambda * min(1, t / (warmup_fraction * T)); lambda from the start without warm-up."""
    warmup = warmup_fraction * max(1, total)
    return weight * (1.0 if warmup <= 0 else min(1.0, done / warmup))


def stage_targets(target, num_stages: int, stages, label_manager) -> tuple[dict, dict | None]:
    """Foreground masks (B, 1, *S_s) and valid-pixel masks (ignore label; None without one) at the resolution of
    each aligned decoder stage s, taken from nnU-Net's deep-supervision targets (index num_stages - 1 - s)."""
    fg_masks, valid_masks = {}, {}
    ignore = label_manager.ignore_label
    for s in stages:
        idx = num_stages - 1 - s
        t = target[idx] if isinstance(target, list) and idx < len(target) else None
        if t is None:
            raise RuntimeError("TMCA alignment at low-resolution stages needs deep supervision targets")
        if label_manager.has_regions:
            regions = t[:, :-1] if label_manager.has_ignore_label else t
            fg_masks[s] = (regions > 0).any(1, keepdim=True).float()
            if label_manager.has_ignore_label:
                valid_masks[s] = 1 - t[:, -1:].float()
        else:
            fg = t > 0
            if ignore is not None:
                fg = fg & (t != ignore)
                valid_masks[s] = (t != ignore).float()
            fg_masks[s] = fg.float()
    return fg_masks, (valid_masks or None)


class TMCAObjective:
    """``objective(output, aux, target, text, lam)`` -> (L, the logged terms); ``aux`` is the network's
    (``return_alignment=True``), ``text`` the batch's lookup (``group``, ``null``)."""

    def __init__(self, segmentation_loss, alignment_loss, label_manager, plain_path_weight: float = 0.0,
                 null_bypass: bool = True):
        self.segmentation_loss = segmentation_loss
        self.alignment_loss = alignment_loss  # None: no alignment term
        self.label_manager = label_manager
        self.plain_path_weight = plain_path_weight
        self.null_bypass = null_bypass

    def __call__(self, output, aux: dict, target, text: dict, lam: float):
        loss = self.segmentation_loss(output, target)
        total = loss
        align, parts = torch.zeros((), device=loss.device), {"region": 0.0, "pixel": 0.0}
        if self.alignment_loss is not None:
            fg, valid = stage_targets(target, aux["num_stages"], aux["stages"].keys(), self.label_manager)
            # the region term needs a report; the pixel term also trains the null text's target map, unless
            # null rows bypass the text path (their target map then reaches no output)
            pixel_rows = ~text["null"] if self.null_bypass else torch.ones_like(text["null"])
            align, parts = self.alignment_loss(aux["stages"], fg, text["group"], ~text["null"], valid,
                                               pixel_rows=pixel_rows)
            total = total + lam * align
        if self.plain_path_weight > 0:
            total = total + self.plain_path_weight * self.segmentation_loss(aux["plain"], target)
        # 'loss' stays nnU-Net's DC+CE so that progress.png compares with nnUNetTrainer; alignment is logged apart
        return total, {"loss": loss.detach().cpu().numpy(), "align_loss": float(align.detach()),
                       "align_region": parts["region"], "align_pixel": parts["pixel"]}
