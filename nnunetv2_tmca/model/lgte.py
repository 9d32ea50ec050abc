"""Language-guided target enhancement (LGTE) for one decoder stage.

Given stage features F (B, C, *S), adapted tokens U (B, L, d) with mask and pooled u (B, d):
  1. cross-modal attention, pixels query tokens:  F <- F + g_a * W_o softmax(Q K^T / sqrt(a)) V,
     Q = W_q F, K = W_k U, V = W_v U;
  2. text-conditioned modulation (FiLM):          F <- F * (1 + gamma(u)) + beta(u);
  3. target map as spatial attention:             F <- F * (1 + g_m * M),  M = sigmoid(z) from the
     stage's AlignmentHead (the aligned space of the contrastive loss).
g_a, gamma, beta and g_m start at zero, so an untrained block is the identity.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _channel_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape(*v.shape, *([1] * (ndim - 2)))


class CrossModalAttention(nn.Module):
    def __init__(self, channels: int, text_dim: int, attention_dim: int, heads: int):
        super().__init__()
        attention_dim = max(heads, attention_dim // heads * heads)
        self.heads = heads
        self.norm = nn.GroupNorm(1, channels)
        self.q = nn.Linear(channels, attention_dim, bias=False)
        self.kv = nn.Linear(text_dim, 2 * attention_dim, bias=False)
        self.out = nn.Linear(attention_dim, channels)
        self.gate = nn.Parameter(torch.zeros(channels))

    def forward(self, feat: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c = feat.shape[:2]
        q = self.q(self.norm(feat).flatten(2).transpose(1, 2))  # (B, N, a)
        k, v = self.kv(tokens).chunk(2, dim=-1)  # (B, L, a)

        def split(x):
            return x.reshape(b, x.shape[1], self.heads, -1).transpose(1, 2)

        attn = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask[:, None, None, :])
        attn = attn.transpose(1, 2).reshape(b, q.shape[1], -1)
        out = self.out(attn).transpose(1, 2).reshape(feat.shape)
        return feat + _channel_view(self.gate, feat.ndim) * out


class FiLM(nn.Module):
    def __init__(self, channels: int, text_dim: int):
        super().__init__()
        self.to_gamma_beta = nn.Linear(text_dim, 2 * channels)
        nn.init.zeros_(self.to_gamma_beta.weight)
        nn.init.zeros_(self.to_gamma_beta.bias)

    def forward(self, feat: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.to_gamma_beta(pooled).chunk(2, dim=-1)
        return feat * (1 + _channel_view(gamma, feat.ndim)) + _channel_view(beta, feat.ndim)


class LGTEBlock(nn.Module):
    def __init__(self, channels: int, text_dim: int, attention_dim: int = 64, attention_heads: int = 4,
                 use_cross_attention: bool = True, use_film: bool = True, use_target_map: bool = True):
        super().__init__()
        self.attention = CrossModalAttention(channels, text_dim, attention_dim, attention_heads) \
            if use_cross_attention else None
        self.film = FiLM(channels, text_dim) if use_film else None
        self.target_gate = nn.Parameter(torch.zeros(channels)) if use_target_map else None

    def forward(self, feat, tokens, mask, pooled, head=None):
        """Returns the enhanced features and the alignment head's outputs (or None)."""
        if self.attention is not None:
            feat = self.attention(feat, tokens, mask)
        if self.film is not None:
            feat = self.film(feat, pooled)
        aligned = head(feat, pooled) if head is not None else None
        if self.target_gate is not None and aligned is not None:
            target_map = torch.sigmoid(aligned["logits"])
            feat = feat * (1 + _channel_view(self.target_gate, feat.ndim) * target_map)
        return feat, aligned
