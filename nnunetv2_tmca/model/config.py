"""TMCA network settings, stored in the plans (``configurations[<name>]['tmca']``).

The trainer writes them into the plans before building the network, and nnU-Net copies the
plans into the model folder, so the static ``build_network_architecture`` rebuilds exactly
the trained network at inference. Stage specs count decoder stages in computation order
(0 = lowest resolution); negative numbers count from the highest resolution (-1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


ALIGN_FEATURES = ("skip", "skip_global", "decoder")


@dataclass
class TMCAConfig:
    text_dim: int = 384  # D_enc of the frozen encoder's token states
    text_encoder: str = "default"  # name or path of the frozen encoder (prediction re-encodes with it)
    # "sentences": a report is its sentences, each encoded whole (at most text_max_length tokens each; longer ones
    # are cut into pieces), up to report_max_sentences / report_max_tokens per report; "report": the report is one
    # text cut at text_max_length tokens (models before 0.3.0)
    text_units: str = "sentences"
    text_max_length: int = 128
    report_max_sentences: int = 64
    report_max_tokens: int = 512
    model_dim: int = 128  # d of the text adapter
    adapter_layers: int = 1
    adapter_heads: int = 4
    lgte_stages: object = "middle"  # see resolve_stages; "middle" = all but the lowest and the highest resolution
    use_cross_attention: bool = True
    attention_stages: object = "middle"  # LGTE stages that also cross-attend
    use_film: bool = True
    use_target_map: bool = True
    # attention queries average-pooled to about this fraction of the patch per axis at finer stages (see lgte.py);
    # None = every stage attends at its own resolution
    attention_grid_fraction: float | None = 0.25
    attention_dim: int = 64
    attention_heads: int = 4
    align_stages: object = "middle"  # stages with an alignment head (target map and losses)
    align_dim: int = 32
    # what the alignment heads' pixel embeddings P_s are computed from: "skip" (the encoder's skip features at the
    # stage's resolution, which no report has touched) or "decoder" (the stage's decoder features after cross-attention
    # and FiLM, which carry the report: the trainer's default before 0.4.0, and plans written before this setting
    # existed); "skip_global": the skip plus the encoder's bottleneck (whole-patch context, also text-free)
    align_features: str = "skip"
    # False: the heads read the skip features through a stop-gradient, so neither the alignment losses nor the
    # segmentation loss through the target map reach the encoder by this route (the encoder, which the no-report
    # path shares, is then trained as in nnU-Net plus through LGTE's decoder path)
    align_encoder_gradient: bool = True
    use_position: bool = True  # coordinate features in the attention queries and the aligned pixel embeddings
    fuse_target_logits: bool = True  # final logits += beta * target-map logit of the finest aligned stage
    # fuse into every output channel (region-based label sets: each channel a sigmoid region) instead of channels 1:
    # (softmax label sets, channel 0 = background); the trainer writes label_manager.has_regions
    fuse_all_channels: bool = False
    # rows without a report (null text) skip LGTE and the output fusion: their output is the planned U-Net's
    null_bypass: bool = False
    # the text modules read the U-Net's features through a stop-gradient and the fusion adds their target map to the
    # U-Net's logits through one too: no loss that involves a report reaches the planned U-Net, which trains on
    # nnU-Net's loss alone (the trainer's plain_path_weight); with lgte_stages "none" the no-report model is then an
    # image-only nnU-Net by construction (_sideText)
    detach_trunk: bool = False
    text_mirroring: str = "off"  # how training mirrored image-report pairs; test-time mirroring follows it
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict | None) -> "TMCAConfig":
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known - {"attention_readout"}
        if unknown:
            raise ValueError(f"Unknown TMCA settings in the plans: {sorted(unknown)}")
        # 0.1.0 wrote the one readout it had ("mixture") into the plans; development models before it have neither
        # key and a readout this version cannot build (CHANGELOG 0.2.0)
        readout = d.pop("attention_readout", None)
        if readout not in (None, "mixture") or ("text_dim" in d and readout is None
                                                  and "attention_grid_fraction" not in d):
            raise ValueError("These plans come from a development model older than nnunetv2_tmca 0.1.0 (attention "
                             "readout 'projected'); retrain it with this version (see CHANGELOG.md, 0.2.0).")
        if "text_dim" in d and "text_units" not in d:  # plans before 0.3.0: one text per report, 64 tokens
            d["text_units"] = "report"
            d.setdefault("text_max_length", 64)
        if d.get("text_units", "sentences") not in ("sentences", "report"):
            raise ValueError(f"text_units must be 'sentences' or 'report', not {d['text_units']!r}")
        if "text_dim" in d and "align_features" not in d:
            d["align_features"] = "decoder"  # plans written before the setting existed: the heads read decoder features
        if d.get("align_features", "skip") not in ALIGN_FEATURES:
            raise ValueError(f"align_features must be one of {ALIGN_FEATURES}, not {d['align_features']!r}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_stages(spec, num_stages: int) -> list[int]:
    """Turn a stage spec into sorted decoder stage indices in [0, num_stages).

    "all", "all_but_lowest", "middle" (all but lowest and highest), "middle_highest" (the highest-resolution
    stage of "middle"), "coarse" (all at <= 1/4 of the full resolution), "highest", "lowest", "none" or ints.
    """
    if spec in (None, "none"):
        return []
    if spec == "all":
        return list(range(num_stages))
    if spec == "all_but_lowest":
        return list(range(1, num_stages)) if num_stages > 1 else [0]
    if spec == "middle":  # all but the lowest and the highest resolution
        return list(range(1, num_stages - 1)) if num_stages > 2 else [num_stages - 1]
    if spec == "middle_highest":
        return resolve_stages("middle", num_stages)[-1:]
    if spec == "coarse":  # all whose resolution is at most a quarter of the full one
        return list(range(0, num_stages - 2)) if num_stages > 2 else [0]
    if spec == "highest":
        return [num_stages - 1]
    if spec == "lowest":
        return [0]
    out = sorted({s % num_stages for s in spec})
    for s in spec:
        if not -num_stages <= s < num_stages:
            raise ValueError(f"Decoder stage {s} does not exist (the network has {num_stages} decoder stages)")
    return out
