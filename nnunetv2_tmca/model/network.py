"""TMCA network: nnU-Net's planned U-Net with report guidance in the decoder.

The planned network's ``encoder`` and ``decoder`` are kept as they are (same parameter names,
same deep-supervision outputs, ``decoder.deep_supervision`` switch); the decoder loop of
dynamic_network_architectures' UNetDecoder is re-run here with an LGTE block and/or an
alignment head after the chosen stages. With all gates at zero the output equals the
planned network's output on the same weights.

``forward(x, text=None, return_alignment=False)``: ``text`` is a dict with ``tokens``
(B, L, D_enc), ``mask`` (B, L) and optionally ``null`` (B,) bool, ``sentence`` (B, L) and ``token_row`` (B, L)
(equal values: the same token of the same sentence, computed once by the adapter); None means the learned null
text, unless a text was bound with :meth:`TMCANetwork.bind_text`, the one binding API (nnU-Net's
predictor calls ``network(x)``; the TMCA predictor and trainer bind each case's text around it).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
from torch import nn

from nnunetv2_tmca.model.alignment_head import AlignmentHead
from nnunetv2_tmca.model.attention_grid import query_pooling
from nnunetv2_tmca.model.config import TMCAConfig, resolve_stages
from nnunetv2_tmca.model.lgte import LGTEBlock
from nnunetv2_tmca.model.text_adapter import TextAdapter

NULL_TEXT = "null"  # bind this to predict on purpose with the learned null text (no warning)


class TMCANetwork(nn.Module):
    def __init__(self, unet: nn.Module, config: TMCAConfig):
        super().__init__()
        if not all(hasattr(unet, a) for a in ("encoder", "decoder")) or \
                not all(hasattr(unet.decoder, a) for a in ("stages", "transpconvs", "seg_layers")):
            raise TypeError(f"TMCA needs a U-Net with encoder/decoder(stages, transpconvs, seg_layers) as planned "
                            f"by nnU-Net; got {type(unet).__name__}")
        self.encoder = unet.encoder
        self.decoder = unet.decoder
        self.unet_class = type(unet).__name__
        self.config = config
        n = len(self.decoder.stages)
        conv_op = self.encoder.conv_op
        channels = [self.encoder.output_channels[-(s + 2)] for s in range(n)]
        self.lgte_stages = resolve_stages(config.lgte_stages, n)
        self.align_stages = resolve_stages(config.align_stages, n)
        d = config.model_dim
        self.text_adapter = TextAdapter(config.text_dim, d, config.adapter_layers, config.adapter_heads,
                                        config.text_max_length, config.text_units == "sentences",
                                        config.report_max_sentences)
        attention_stages = set(resolve_stages(config.attention_stages, n)) & set(self.lgte_stages) \
            if config.use_cross_attention else set()
        self.lgte = nn.ModuleDict({str(s): LGTEBlock(channels[s], d, config.attention_dim, config.attention_heads,
                                                     s in attention_stages, config.use_film,
                                                     config.use_target_map, conv_op, config.use_position)
                                   for s in self.lgte_stages})
        head_stages = sorted(set(self.align_stages) | {s for s in self.lgte_stages if config.use_target_map})
        self.heads = nn.ModuleDict({str(s): AlignmentHead(channels[s], d, config.align_dim, conv_op,
                                                          self.lgte[str(s)].attention.attention_dim
                                                          if s in attention_stages else None, config.use_position)
                                    for s in head_stages})
        # target-informed output fusion: final logits += beta * z of the finest head (beta starts at 0)
        self.output_fusion = nn.Parameter(torch.zeros(())) if config.fuse_target_logits and head_stages else None
        self._bound_text = None
        self._warned_no_text = False

    @contextmanager
    def bind_text(self, text: dict | None):
        """Within the block, ``forward(x)`` without a text uses ``text`` (batch 1, expanded)."""
        previous, self._bound_text = self._bound_text, text
        try:
            yield self
        finally:
            self._bound_text = previous

    @torch.compiler.disable
    def _warn_no_text_once(self):
        """Outside torch.compile's graph: reading and setting the once-flag there would recompile."""
        if not self._warned_no_text:
            self._warned_no_text = True
            how = "as its planned U-Net (null bypass)" if self.config.null_bypass else "with the learned null text"
            warnings.warn(f"This TMCA network was called without a report: it predicts image-only {how}. To use the "
                          "reports, predict with nnUNetv2_predict_tmca --reports FILE (or nnUNetPredictorTMCA); "
                          "--no_text there makes image-only prediction explicit.", stacklevel=4)

    def _text_for_batch(self, text, batch_size: int):
        text = text if text is not None else self._bound_text
        if text is None or (isinstance(text, str) and text == NULL_TEXT):
            return self.text_adapter(None, None, batch_size=batch_size)
        tokens, mask, null = text["tokens"], text["mask"], text.get("null")
        sentence, token_row = text.get("sentence"), text.get("token_row")
        if tokens.shape[0] != batch_size:
            if tokens.shape[0] != 1:
                raise ValueError(f"text batch {tokens.shape[0]} does not match image batch {batch_size}")
            tokens, mask = tokens.expand(batch_size, *tokens.shape[1:]), mask.expand(batch_size, -1)
            null = null.expand(batch_size) if null is not None else None
            sentence = sentence.expand(batch_size, -1) if sentence is not None else None
            token_row = token_row.expand(batch_size, -1) if token_row is not None else None
        return self.text_adapter(tokens, mask, null, sentence=sentence, token_row=token_row)

    def sentence_relevance(self, text: dict) -> torch.Tensor | None:
        """(B, S) relevance r of each sentence of ``text`` (sentence_pooling.py); None for whole-report models."""
        return self._text_for_batch(text, text["tokens"].shape[0])[3]

    def _bypass_rows(self, text):
        """``null_bypass``: True (no report at all), the (B,) or (1,) bool ``null`` of the rows without one (they
        skip LGTE and the fusion), or None (no bypass). Decided without reading tensor values (torch.compile)."""
        if not self.config.null_bypass:
            return None
        text = text if text is not None else self._bound_text
        return True if text is None or isinstance(text, str) else text.get("null")

    def forward(self, x: torch.Tensor, text: dict | None = None, return_alignment: bool = False,
                plain: bool = False):
        """Segmentation logits (a list under deep supervision); with ``return_alignment`` also ``aux``: the aligned
        stages' head outputs, every head's target-map logits and, with ``plain``, the planned decoder's output on
        the same encoder features (``aux["plain"]``: the image-only path, trained by ``plain_path_weight``)."""
        if text is None and self._bound_text is None and not self.training:
            self._warn_no_text_once()  # under torch.compile a graph break, before the whole graph (one graph)
        tokens, mask, pooled, _ = self._text_for_batch(text, x.shape[0])
        skips = self.encoder(x)
        bypass = self._bypass_rows(text)
        if bypass is True and not return_alignment:
            return self.decoder(skips)  # no report: exactly the planned U-Net
        if bypass is not None:  # rows with null = True keep the planned decoder's features (broadcast over C, *S)
            bypass = (torch.ones(x.shape[0], dtype=torch.bool) if bypass is True else bypass).to(x.device) \
                .reshape(-1, *([1] * (x.ndim - 1)))
        dec = self.decoder
        lres = skips[-1]
        seg_outputs, aligned, maps = [], {}, {}
        for s in range(len(dec.stages)):
            feat = dec.transpconvs[s](lres)
            feat = dec.stages[s](torch.cat((feat, skips[-(s + 2)]), 1))
            key = str(s)
            head = self.heads[key] if key in self.heads else None
            # the heads' pixel input: the text-free encoder skip, or (None) the features after the stage's LGTE
            head_input = skips[-(s + 2)] if self.config.align_features == "skip" else None
            if key in self.lgte:
                pool = query_pooling(feat.shape[2:], x.shape[2:], self.config.attention_grid_fraction)
                enhanced, out = self.lgte[key](feat, tokens, mask, pooled, head, pool, head_input)
                feat = enhanced if bypass is None else torch.where(bypass, feat, enhanced)
            else:
                out = head(feat if head_input is None else head_input, pooled) \
                    if head is not None and (return_alignment or self.output_fusion is not None) else None
            if out is not None:
                maps[s] = out["logits"]
                if s in self.align_stages:
                    aligned[s] = out
            if dec.deep_supervision:
                seg_outputs.append(dec.seg_layers[s](feat))
            elif s == len(dec.stages) - 1:
                seg_outputs.append(dec.seg_layers[-1](feat))
            lres = feat
        seg_outputs = seg_outputs[::-1]
        unfused = seg_outputs if dec.deep_supervision else seg_outputs[0]
        if self.output_fusion is not None and maps:
            z = maps[max(maps)] if bypass is None else maps[max(maps)] * (~bypass).to(maps[max(maps)].dtype)
            seg_outputs = [self._fuse(o, z) for o in seg_outputs]
        seg = seg_outputs if dec.deep_supervision else seg_outputs[0]
        if not return_alignment:
            return seg
        aux = {"stages": aligned, "target_logits": maps, "num_stages": len(dec.stages)}
        if plain:  # without LGTE the decoder above is the planned one: no second pass
            aux["plain"] = unfused if not self.lgte else self.decoder(skips)
        return seg, aux

    def _fuse(self, logits: torch.Tensor, target_logit: torch.Tensor) -> torch.Tensor:
        """logits_fg + beta * z (z resized): the report can veto look-alikes at full resolution. Region-based label
        sets (``fuse_all_channels``): every channel is a sigmoid region, all are foreground. Why it is on:
        documentation/benchmarks.md, "Nested ablations"."""
        z = nn.functional.interpolate(target_logit, size=logits.shape[2:], mode="bilinear" if logits.ndim == 4
                                      else "trilinear", align_corners=False)
        if self.config.fuse_all_channels:
            return logits + self.output_fusion * z
        fg = logits[:, 1:] + self.output_fusion * z
        return torch.cat((logits[:, :1], fg), 1)

    def compute_conv_feature_map_size(self, input_size):
        return self.encoder.compute_conv_feature_map_size(input_size) + \
            self.decoder.compute_conv_feature_map_size(input_size)

    def text_parameters(self):
        """Parameters that are new relative to the planned U-Net (the AdamW group of the trainer)."""
        for m in (self.text_adapter, self.lgte, self.heads):
            yield from m.parameters()
        if self.output_fusion is not None:
            yield self.output_fusion


def build_tmca_network(unet: nn.Module, config: TMCAConfig | dict | None) -> TMCANetwork:
    if not isinstance(config, TMCAConfig):
        config = TMCAConfig.from_dict(config)
    return TMCANetwork(unet, config)
