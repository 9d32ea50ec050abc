"""Target-informed text pooling over the sentences of a report (long reports with several findings).

With adapted token states U_l (B, L, d) and the sentence s_l of each token:
  h_k = sum_l [s_l = k] U_l / n_k                       sentence states (mean of their tokens),
  r_k = softmax_k(q^T W h_k / sqrt(d))                  relevance of sentence k (learned query q),
  u   = sum_k r_k h_k                                   the report's vector (FiLM, alignment text side),
  b_l = log r_{s_l}                                     an additive bias on the cross-attention logits.
The masks train q and W: the text side of the contrastive loss must match the target region, and the
attention must bring the target's words, so the sentences that describe the target gain weight and other
findings, negated places and boilerplate lose it. A one-sentence report has r = 1 and b = 0: u is the mean of
its tokens, as for whole reports. r is what ``nnUNetv2_tmca_visualize`` reports as each sentence's relevance.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class SentencePooling(nn.Module):
    def __init__(self, dim: int, max_sentences: int = 64):
        super().__init__()
        self.key = nn.Linear(dim, dim, bias=False)
        self.query = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.query, std=0.02)
        self.max_sentences = int(max_sentences)

    def forward(self, states: torch.Tensor, mask: torch.Tensor, sentence: torch.Tensor):
        """states (B, L, d), mask (B, L) bool, sentence (B, L) long (-1: padding) ->
        pooled (B, d), relevance (B, S) (0 for absent sentences), token bias (B, L) (log r of the token's sentence)."""
        b, length, dim = states.shape
        n = self.max_sentences
        valid = mask & (sentence >= 0) & (sentence < n)
        # sums and counts per (row, sentence) by one index_add over the tokens: O(L d), whatever the cap;
        # tokens that belong to no sentence go to a spare slot that is dropped
        slot = torch.where(valid, torch.arange(b, device=states.device)[:, None] * n + sentence, b * n).reshape(-1)
        sums = states.new_zeros(b * n + 1, dim).index_add(0, slot, states.reshape(-1, dim))[:-1].reshape(b, n, dim)
        counts = states.new_zeros(b * n + 1).index_add(0, slot, valid.reshape(-1).to(states.dtype))[:-1]
        counts = counts.reshape(b, n)  # (B, S)
        sentences = sums / counts.clamp_min(1)[..., None]  # (B, S, d)
        logits = self.key(sentences) @ self.query / math.sqrt(states.shape[-1])
        logits = logits.masked_fill(counts == 0, float("-inf"))
        log_relevance = torch.log_softmax(logits, dim=1).nan_to_num(neginf=-1e4)  # rows without any sentence: 0 used
        relevance = log_relevance.exp() * (counts > 0)
        pooled = (relevance[..., None] * sentences).sum(1)
        bias = torch.gather(log_relevance, 1, sentence.clamp(0, n - 1)) * valid
        return pooled, relevance, bias
