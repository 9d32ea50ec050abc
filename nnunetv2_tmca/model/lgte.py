"""Language-guided target enhancement (LGTE) for one decoder stage.

Given stage features F (B, C, *S), adapted tokens U (B, L, d) with mask and pooled u (B, d):
  1. cross-modal attention, pixels query tokens:  F <- F + g_a * W_o m,  m = softmax(Q K^T / sqrt(d_h) + b) V
     (per head), Q = W_q F + W_p pos (coordinate features, see position.py), K = W_k U, V = W_v U, b the
     log-relevance of each token's sentence (sentence_pooling.py; 0 for one-sentence reports);
  2. text-conditioned modulation (FiLM):          F <- F * (1 + gamma(u)) + beta(u);
  3. target map as spatial attention:             F <- F * (1 + alpha * M),  M = sigmoid(z) from the
     stage's AlignmentHead (the aligned space of the contrastive loss), alpha a learned scalar; the head's
     pixel embeddings come from the encoder skip S_s (text-free), its logit z from them, t(u) and m.
Why each part is on: documentation/benchmarks.md, "Nested ablations" and "Nested ablations on
clinical-style reports" (cross-attention is what reads reports of several findings).
g_a, gamma, beta and alpha start at zero, so an untrained block is the identity. The attention
mixture m also feeds the target-map logit (see AlignmentHead), so the pixel term trains the
attention directly instead of only through the gate g_a.

Keys without padding: a batch's reports are padded to its longest, and on the CPU the attention's cost follows
queries x key columns, so there each row attends over its own valid tokens only (sum_i n_i keys instead of B * L;
the same values, padding never had weight). On CUDA and under torch.compile the padded batch runs in one call.

Attention grid: at stages finer than a quarter of the patch the attention runs on average-pooled
queries and its output is block-upsampled back (attention_grid.py): A(F) = up_k(A(pool_k F)), 1/k^2 of
the cost and saved memory in 2D; a report's side and zone words need no finer grid.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnunetv2_tmca.model.attention_grid import add_block_upsampled, avg_pool_grid
from nnunetv2_tmca.model.position import PositionProjection


def _channel_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape(*v.shape, *([1] * (ndim - 2)))


def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     multiple: int | None = None, padded: bool = True) -> torch.Tensor:
    """softmax(c q k^T + b) v with a per-key bias b (B, L) (-inf at padding) that may need a gradient, c = dh^-1/2.

    A differentiable ``attn_mask`` sends scaled_dot_product_attention to its math path, which keeps the whole
    (B, h, N, L) attention for backward (cost: documentation/benchmarks.md, "Clinical-style reports"). The bias
    becomes one more key dimension instead:
    q' = [q, 1], k' = [k, b / c], v' = [v, 0] give c q'.k' = c q.k + b exactly, and the padding stays a
    constant bool mask, so the fused kernel runs and b still gets its gradient (through k'). The head dimension is
    padded with zeros to a ``multiple`` (default: 8 on CUDA, whose fused kernels need it, 1 elsewhere).
    ``padded=False``: every key is valid (no mask at all)."""
    dh, c = q.shape[-1], q.shape[-1] ** -0.5
    multiple = multiple or (8 if q.device.type == "cuda" else 1)
    zeros = (-(dh + 1)) % multiple
    valid = torch.isfinite(bias.detach())
    column = (bias.masked_fill(~valid, 0.0) / c).to(k.dtype)[:, None, :, None].expand(-1, k.shape[1], -1, 1)
    q = torch.cat([q, q.new_ones(*q.shape[:-1], 1), q.new_zeros(*q.shape[:-1], zeros)], dim=-1)
    k = torch.cat([k, column, k.new_zeros(*k.shape[:-1], zeros)], dim=-1)
    v = torch.cat([v, v.new_zeros(*v.shape[:-1], 1 + zeros)], dim=-1)  # equal head dims: the fused kernel's condition
    attn_mask = valid[:, None, None, :] if padded else None
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=c)[..., :dh]


def unpadded_attention(q: torch.Tensor, kv: nn.Linear, tokens: torch.Tensor, mask: torch.Tensor,
                       heads: int) -> torch.Tensor:
    """The attention of ``CrossModalAttention`` with each row over its own valid tokens: q (B, h, N, dh), tokens
    (B, L, d), mask bool (B, L) or the float per-key bias (-inf at padding) -> (B, h, N, dh). K and V are computed
    for the valid tokens only; a row without any valid token gets zeros."""
    bias = None if mask.dtype == torch.bool else mask
    valid = mask if bias is None else torch.isfinite(mask.detach())
    flat = valid.reshape(-1).nonzero().squeeze(1)
    counts = valid.sum(1).tolist()
    k, v = kv(tokens.reshape(-1, tokens.shape[-1]).index_select(0, flat)) \
        .reshape(-1, 2, heads, q.shape[-1]).permute(1, 2, 0, 3)  # (h, N_valid, dh) each
    biases = bias.reshape(-1).index_select(0, flat).split(counts) if bias is not None else [None] * len(counts)
    out = []
    for i, (k_i, v_i, b_i) in enumerate(zip(k.split(counts, dim=1), v.split(counts, dim=1), biases)):
        q_i = q[i:i + 1]
        if counts[i] == 0:
            out.append(torch.zeros_like(q_i))
        elif b_i is None:
            out.append(F.scaled_dot_product_attention(q_i, k_i[None], v_i[None]))
        else:
            out.append(biased_attention(q_i, k_i[None], v_i[None], b_i[None], padded=False))
    return torch.cat(out, 0)


class CrossModalAttention(nn.Module):
    """Pixels attend over tokens, computed channel-first (no (B, N, C) transposes of large maps)."""

    def __init__(self, channels: int, text_dim: int, attention_dim: int, heads: int, conv_op=nn.Conv2d,
                 use_position: bool = True):
        super().__init__()
        attention_dim = max(heads, attention_dim // heads * heads)
        self.attention_dim, self.heads, self.head_dim = attention_dim, heads, attention_dim // heads
        self.q = conv_op(channels, attention_dim, 1, 1, 0, bias=False)
        self.q_position = PositionProjection(attention_dim, conv_op) if use_position else None
        self.kv = nn.Linear(text_dim, 2 * attention_dim, bias=False)
        self.out = conv_op(attention_dim, channels, 1, 1, 0, bias=True)
        self.gate = nn.Parameter(torch.zeros(channels))
        self.padded_keys = False

    def unpadded_keys(self, q: torch.Tensor) -> bool:
        """Per-row attention over the valid tokens (see the module docstring): on the CPU, outside torch.compile;
        ``self.padded_keys = True`` forces the one padded call (benchmarks/lgte_kernels.py compares them)."""
        return q.device.type == "cpu" and not self.padded_keys and not torch.compiler.is_compiling()

    def forward(self, feat: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, pool=None):
        """Returns F + up(g_a * W_o m) and the attention mixture m (B, attention_dim, *grid) on the grid."""
        b, h, dh = feat.shape[0], self.heads, self.head_dim
        grid = feat if pool is None else avg_pool_grid(feat, pool)
        q = self.q(grid)
        if self.q_position is not None:
            q = q + self.q_position(q)
        spatial = q.shape[2:]
        # contiguous (B, h, N, dh) queries let PyTorch pick its fused (flash) kernel, which keeps no
        # (B, h, N, L) attention matrix for the backward pass (benchmarks/attention_kernel.py)
        q = q.reshape(b, h, dh, -1).transpose(2, 3).contiguous()
        # mask: bool (valid tokens), or float: the additive log-relevance of each token's sentence, -inf at padding
        if self.unpadded_keys(q):
            mixed = unpadded_attention(q, self.kv, tokens, mask, h)
        else:
            k, v = self.kv(tokens).reshape(b, tokens.shape[1], 2, h, dh).permute(2, 0, 3, 1, 4)  # (B, h, L, dh)
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :]) \
                if mask.dtype == torch.bool else biased_attention(q, k, v, mask)  # (B, h, N, dh)
        mixed = mixed.transpose(2, 3).reshape(b, h * dh, *spatial)
        # the gate folded into W_o (g_a * (W_o m + b) = (g_a W_o) m + g_a b): no full-size product with g_a
        weight = self.out.weight * self.gate.reshape(-1, *([1] * (self.out.weight.ndim - 1)))
        delta = (F.conv2d if mixed.ndim == 4 else F.conv3d)(mixed, weight, self.out.bias * self.gate)
        return add_block_upsampled(feat, delta, pool), mixed


class FiLM(nn.Module):
    def __init__(self, channels: int, text_dim: int):
        super().__init__()
        self.to_gamma_beta = nn.Linear(text_dim, 2 * channels)
        nn.init.zeros_(self.to_gamma_beta.weight)
        nn.init.zeros_(self.to_gamma_beta.bias)

    def forward(self, feat: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.to_gamma_beta(pooled).chunk(2, dim=-1)
        return torch.addcmul(_channel_view(beta, feat.ndim), feat, _channel_view(1 + gamma, feat.ndim))


class LGTEBlock(nn.Module):
    def __init__(self, channels: int, text_dim: int, attention_dim: int = 64, attention_heads: int = 4,
                 use_cross_attention: bool = True, use_film: bool = True, use_target_map: bool = True,
                 conv_op=nn.Conv2d, use_position: bool = True):
        super().__init__()
        self.attention = CrossModalAttention(channels, text_dim, attention_dim, attention_heads, conv_op,
                                             use_position) if use_cross_attention else None
        self.film = FiLM(channels, text_dim) if use_film else None
        self.target_gate = nn.Parameter(torch.zeros(())) if use_target_map else None

    def forward(self, feat, tokens, mask, pooled, head=None, attention_pool=None, head_input=None):
        """Returns the enhanced features and the alignment head's outputs (or None).
        ``attention_pool``: per-axis pooling of the attention grid (see ``query_pooling``); ``head_input``: the
        head's pixel input (the encoder skip, untouched by the report), None = the features after attention and
        FiLM (plans with ``align_features = "decoder"``)."""
        attended = None
        if self.attention is not None:
            feat, attended = self.attention(feat, tokens, mask, attention_pool)
        if self.film is not None:
            feat = self.film(feat, pooled)
        aligned = head(feat if head_input is None else head_input, pooled, attended, attention_pool) \
            if head is not None else None
        if self.target_gate is not None and aligned is not None:
            target_map = torch.sigmoid(aligned["logits"])
            feat = feat * (1 + self.target_gate * target_map)
        return feat, aligned
