"""Trainable text adapter over frozen token states, with a learned null text.

U = TransformerEncoder(LN(W T + b) + P_pos)  (B, L, d);  u = LN(W_u * mean_l(m_l U_l))  (B, d).
Rows flagged null (missing or dropped report) replace their tokens by one learned null
token e_null, so a model works without a report: u_null = LN(W_u * Enc(e_null)).
"""
from __future__ import annotations

import torch
from torch import nn


class TextAdapter(nn.Module):
    def __init__(self, text_dim: int, model_dim: int = 128, num_layers: int = 1, num_heads: int = 4,
                 max_length: int = 64):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(text_dim, model_dim), nn.LayerNorm(model_dim))
        self.position = nn.Parameter(torch.zeros(1, max_length, model_dim))
        self.null_token = nn.Parameter(torch.zeros(1, 1, model_dim))
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.null_token, std=0.02)
        layer = nn.TransformerEncoderLayer(model_dim, num_heads, dim_feedforward=2 * model_dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False) \
            if num_layers > 0 else nn.Identity()
        self.pool = nn.Sequential(nn.Linear(model_dim, model_dim), nn.LayerNorm(model_dim))
        self.max_length = max_length

    def forward(self, tokens: torch.Tensor | None, mask: torch.Tensor | None, null: torch.Tensor | None = None,
                batch_size: int | None = None):
        """tokens (B, L, D_enc), mask (B, L) bool, null (B,) bool -> U (B, L', d), mask (B, L'), u (B, d)."""
        if tokens is None:
            emb = self.null_token.expand(batch_size, 1, -1)
            mask = torch.ones(batch_size, 1, dtype=torch.bool, device=emb.device)
        else:
            length = min(tokens.shape[1], self.max_length)
            tokens, mask = tokens[:, :length], mask[:, :length].bool()
            emb = self.proj(tokens.to(self.null_token.dtype)) + self.position[:, :length]
            if null is not None:
                null = null.bool()
                first = torch.zeros_like(mask)
                first[:, 0] = True
                mask = torch.where(null[:, None], first, mask)
                null_emb = torch.zeros_like(emb)
                null_emb[:, :1] = self.null_token
                emb = torch.where(null[:, None, None], null_emb, emb)
        states = self.encoder(emb, src_key_padding_mask=~mask) if not isinstance(self.encoder, nn.Identity) else emb
        states = states * mask[..., None]
        pooled = states.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return states, mask, self.pool(pooled)
