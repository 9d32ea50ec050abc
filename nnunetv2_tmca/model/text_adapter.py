"""Trainable text adapter over frozen token states, with a learned null text.

U = TransformerEncoder(LN(W T + b) + P_pos)  (B, L, d);  u = LN(W_u * pool(U)).
Whole reports (``units = "report"``): P_pos by token position, pool = the mean over tokens.
Sentence units (``"sentences"``, several findings per report): P_pos by the token's position within its
sentence, self-attention within each sentence (the frozen encoder read each sentence on its own, so a
place word binds to its own finding), pool = the target-informed sentence pooling (sentence_pooling.py),
which also returns each sentence's relevance r and the cross-attention bias log r.
Identical sentences of a batch (``token_row``: equal values mark the same token of the same sentence, e.g. its
row in the text table) are run through the adapter once and shared: the same values and gradients.
Rows flagged null (missing or dropped report) replace their tokens by one learned null token e_null, so a
model works without a report: u_null = LN(W_u * Enc(e_null)).
"""
from __future__ import annotations

import torch
from torch import nn

from nnunetv2_tmca.model.sentence_packing import from_lanes, pack_sentences, to_lanes
from nnunetv2_tmca.model.sentence_pooling import SentencePooling


def position_in_sentence(sentence: torch.Tensor) -> torch.Tensor:
    """(B, L) position of each token within its (contiguous) sentence, from the sentence numbers."""
    index = torch.arange(sentence.shape[1], device=sentence.device).expand_as(sentence)
    starts = torch.ones_like(sentence, dtype=torch.bool)
    starts[:, 1:] = sentence[:, 1:] != sentence[:, :-1]
    return index - torch.cummax(torch.where(starts, index, torch.zeros_like(index)), dim=1).values


class TextAdapter(nn.Module):
    def __init__(self, text_dim: int, model_dim: int = 128, num_layers: int = 1, num_heads: int = 4,
                 max_length: int = 64, sentences: bool = False, max_sentences: int = 64):
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
        self.sentence_pooling = SentencePooling(model_dim, max_sentences) if sentences else None
        self.max_length = max_length

    def forward(self, tokens: torch.Tensor | None, mask: torch.Tensor | None, null: torch.Tensor | None = None,
                batch_size: int | None = None, sentence: torch.Tensor | None = None,
                token_row: torch.Tensor | None = None):
        """tokens (B, L, D_enc), mask (B, L) bool, null (B,) bool, sentence (B, L) long (-1: padding), token_row
        (B, L) long (see the module docstring; sentence units only) ->
        U (B, L', d), the cross-attention mask (B, L') (bool; float with the additive sentence bias for sentence
        units), u (B, d), sentence relevance (B, S) or None."""
        if tokens is None:
            emb = self.null_token.expand(batch_size, 1, -1)
            mask = torch.ones(batch_size, 1, dtype=torch.bool, device=emb.device)
            sentence = torch.zeros(batch_size, 1, dtype=torch.long, device=emb.device)
            states = self._contextualise(emb, mask, sentence if self.sentence_pooling is not None else None)
        elif self.sentence_pooling is None:
            mask = mask.bool()
            length = min(tokens.shape[1], self.max_length)
            tokens, mask = tokens[:, :length], mask[:, :length]
            emb = self.proj(tokens.to(self.null_token.dtype)) + self.position[:, :length]
            if null is not None:
                null = null.bool()
                mask = torch.where(null[:, None], _first_only(mask), mask)
                null_emb = torch.zeros_like(emb)
                null_emb[:, :1] = self.null_token
                emb = torch.where(null[:, None, None], null_emb, emb)
            states = self._contextualise(emb, mask, None)
        else:
            states, mask, sentence = self._sentence_states(tokens, mask.bool(), null, sentence, token_row)
        states = states * mask[..., None]
        if self.sentence_pooling is None:
            pooled = states.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
            return states, mask, self.pool(pooled), None
        pooled, relevance, bias = self.sentence_pooling(states, mask, sentence)
        attention_mask = bias.masked_fill(~mask, float("-inf"))
        return states, attention_mask, self.pool(pooled), relevance

    def _sentence_states(self, tokens, mask, null, sentence, token_row=None):
        """Sentence units: the adapter on the valid tokens only, each distinct sentence once (``token_row``), packed
        in lanes of whole sentences (sentence_packing.py); returns the (B, L, d) states (zeros at padding), the mask
        and sentence numbers after the null rows (one learned null token each) replaced their text."""
        sentence = sentence if sentence is not None else torch.where(mask, 0, -1)
        if null is not None:
            null = null.bool()
            first = _first_only(mask)
            mask = torch.where(null[:, None], first, mask)
            sentence = torch.where(null[:, None], torch.where(first, 0, -1), sentence)
        b, length = mask.shape
        position = position_in_sentence(sentence).clamp(max=self.max_length - 1)
        if torch.compiler.is_compiling():  # static shapes, one graph: every (B, L) slot, a (B, 1, L, L) mask
            emb = self.proj(tokens.to(self.null_token.dtype)) + self.position[0][position]
            if null is not None:
                emb = torch.where((null[:, None] & _first_only(mask))[..., None], self.null_token, emb)
            return self._contextualise(emb, mask, sentence), mask, sentence
        valid = mask.reshape(-1).nonzero().squeeze(1)
        null_token = null.repeat_interleave(length).index_select(0, valid) if null is not None else None
        first, source = _first_occurrences(token_row, valid, null_token)
        run = valid if first is None else valid[first]  # the tokens the adapter computes
        run_mask = mask if first is None else torch.zeros_like(mask).reshape(-1).index_fill(0, run, True) \
            .reshape(mask.shape)
        x = self.proj(tokens.reshape(b * length, -1).index_select(0, run).to(self.null_token.dtype)) \
            + self.position[0].index_select(0, position.reshape(-1)[run])
        if null is not None:
            x = torch.where((null_token if first is None else null_token[first])[:, None], self.null_token[0], x)
        x = self._contextualise_packed(x, run_mask, sentence, run)
        if source is not None:
            x = x.index_select(0, source)
        states = x.new_zeros(b * length, x.shape[-1]).index_copy(0, valid, x).reshape(b, length, -1)
        return states, mask, sentence

    def _contextualise(self, emb, mask, sentence):
        """(B, L, d) -> (B, L, d): the adapter's transformer layers (within sentences for sentence units; the
        outputs at padding are not defined)."""
        if isinstance(self.encoder, nn.Identity):
            return emb
        if sentence is None or self.sentence_pooling is None:
            return self.encoder(emb, src_key_padding_mask=~mask)
        if torch.compiler.is_compiling():  # packing has data-dependent shapes; the same values without it
            same = (sentence[:, :, None] == sentence[:, None, :]) | (sentence[:, :, None] < 0)
            allowed = (same & mask[:, None, :]) | torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
            return self.encoder(emb, mask=self._blocked_per_head(allowed[:, None]))
        valid = mask.reshape(-1).nonzero().squeeze(1)
        x = self._contextualise_packed(emb.reshape(-1, emb.shape[-1]).index_select(0, valid), mask, sentence, valid)
        return emb.reshape(-1, emb.shape[-1]).index_copy(0, valid, x).reshape(emb.shape)

    def _contextualise_packed(self, x, mask, sentence, valid):
        """(N, d) valid tokens (``valid``: their flat (B, L) positions, row-major) -> (N, d), attention within each
        sentence, in lanes of whole sentences (sentence_packing.py)."""
        if isinstance(self.encoder, nn.Identity):
            return x
        layout = pack_sentences(mask, sentence, valid)
        return from_lanes(self.encoder(to_lanes(x, layout), mask=self._blocked_per_head(layout.allowed)), layout)

    def _blocked_per_head(self, allowed: torch.Tensor) -> torch.Tensor:
        """(R, 1, T, T) bool "may attend" -> the (R * heads, T, T) "blocked" mask of nn.TransformerEncoder."""
        rows, _, length, _ = allowed.shape
        heads = self.encoder.layers[0].self_attn.num_heads
        return (~allowed).expand(rows, heads, length, length).reshape(rows * heads, length, length)


def _first_occurrences(token_row, valid, null_token):
    """Which valid tokens the adapter computes and where every valid token takes its state from: (the positions,
    within ``valid``, of the first occurrence of each distinct ``token_row``, ascending; for each valid token the
    index of its first occurrence among those), or (None, None) without ``token_row``. Tokens of null rows are
    never shared. First occurrences are whole sentences: the earliest occurrence of a sentence holds the first
    occurrence of each of its tokens."""
    if token_row is None:
        return None, None
    rows = token_row.reshape(-1).index_select(0, valid)
    if null_token is not None:  # a distinct negative id for every null-row token
        rows = torch.where(null_token, -1 - torch.arange(len(rows), device=rows.device), rows)
    distinct, inverse = torch.unique(rows, return_inverse=True)
    order = torch.arange(len(rows), device=rows.device)
    first_of = torch.full((len(distinct),), len(rows), dtype=torch.long, device=rows.device) \
        .scatter_reduce(0, inverse, order, "amin")
    is_first = torch.zeros(len(rows), dtype=torch.bool, device=rows.device).index_fill(0, first_of, True)
    if bool(is_first.all()):
        return None, None
    rank = torch.cumsum(is_first, 0) - 1
    return is_first.nonzero().squeeze(1), rank[first_of[inverse]]


def _first_only(mask: torch.Tensor) -> torch.Tensor:
    first = torch.zeros_like(mask)
    first[:, 0] = True
    return first
