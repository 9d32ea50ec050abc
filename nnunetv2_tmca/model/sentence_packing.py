"""Within-sentence attention without padding: the valid tokens of a batch packed into lanes of whole sentences.

A batch of reports is (B, L) tokens, mostly padding after the shorter reports, and self-attention within each
sentence over the (B, L, L) grid computes B * L^2 scores of which only sum_k n_k^2 (n_k the length of sentence k)
are allowed. Here the N valid tokens are laid out whole sentence by whole sentence in lanes of width W
(W >= the longest sentence; best-fit decreasing: longest sentence first, each into the fullest lane that still
holds it, so the lanes hold few padding slots), and
attention runs per lane under a block-diagonal mask (token i may attend to token j iff both belong to the same
sentence). Every sentence lies whole in one lane, so the result equals the (B, L, L) masked attention for every
valid token, at about N * W scores instead of B * L^2, and the per-token layers (projection, LayerNorm, feed-forward)
run on the N valid tokens only. Padding slots of a lane attend only to themselves and are never read back.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch


@dataclass
class SentenceLanes:
    index: torch.Tensor  # (N,) flat position (lane * width + column) of each valid token, in (B, L) row-major order
    allowed: torch.Tensor  # (lanes, 1, width, width) bool: same sentence (shared by the heads)
    lanes: int
    width: int


def pack_sentences(mask: torch.Tensor, sentence: torch.Tensor, valid: torch.Tensor | None = None,
                   min_width: int = 32) -> SentenceLanes:
    """mask (B, L) bool, sentence (B, L) long (contiguous runs per row) -> the lane layout of the valid tokens;
    ``valid``: their flat positions in B * L, row-major (``mask.reshape(-1).nonzero()``), when the caller has them."""
    device = mask.device
    valid = mask.reshape(-1).nonzero().squeeze(1) if valid is None else valid  # (N,) into B * L, row-major
    if valid.numel() == 0:
        raise ValueError("pack_sentences: no valid token in the batch")
    row = torch.div(valid, mask.shape[1], rounding_mode="floor")
    number = sentence.reshape(-1)[valid]
    starts = torch.ones_like(valid, dtype=torch.bool)
    starts[1:] = (row[1:] != row[:-1]) | (number[1:] != number[:-1])
    slot = torch.cumsum(starts, 0) - 1  # (N,) consecutive sentence number over the batch
    first = starts.nonzero().squeeze(1)  # (S,) index of each sentence's first token
    lengths = torch.diff(torch.cat([first, first.new_tensor([valid.numel()])])).tolist()
    width = max(min_width, max(lengths))
    width = -(-width // 8) * 8
    lane_of, offset_of, lanes = best_fit_decreasing(lengths, width)
    lane_of = torch.tensor(lane_of, device=device)
    offset_of = torch.tensor(offset_of, device=device)
    column = offset_of[slot] + (torch.arange(valid.numel(), device=device) - first[slot])
    index = lane_of[slot] * width + column
    ids = -1 - torch.arange(lanes * width, device=device)  # padding slots: an id of their own
    ids = ids.index_copy(0, index, slot).reshape(lanes, width)
    allowed = (ids[:, :, None] == ids[:, None, :])[:, None]
    return SentenceLanes(index, allowed, lanes, width)


def best_fit_decreasing(lengths: list, width: int) -> tuple[list, list, int]:
    """Lane and offset of each sentence and the number of lanes: the longest first, each into the lane with the
    least room that still holds it (a sorted list of free room: O(S log S) on the host)."""
    lane_of, offset_of, used = [0] * len(lengths), [0] * len(lengths), []
    free = []  # sorted (room left, lane)
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[i]
        j = bisect.bisect_left(free, (n, -1))
        if j < len(free):
            _, lane = free.pop(j)
        else:
            lane = len(used)
            used.append(0)
        lane_of[i], offset_of[i] = lane, used[lane]
        used[lane] += n
        bisect.insort(free, (width - used[lane], lane))
    return lane_of, offset_of, len(used)


def to_lanes(x: torch.Tensor, layout: SentenceLanes) -> torch.Tensor:
    """(N, C) per valid token -> (lanes, width, C), zeros at padding slots (differentiable)."""
    out = x.new_zeros(layout.lanes * layout.width, x.shape[-1]).index_copy(0, layout.index, x)
    return out.reshape(layout.lanes, layout.width, x.shape[-1])


def from_lanes(x: torch.Tensor, layout: SentenceLanes) -> torch.Tensor:
    """(lanes, width, C) -> (N, C) per valid token."""
    return x.reshape(layout.lanes * layout.width, x.shape[-1]).index_select(0, layout.index)
