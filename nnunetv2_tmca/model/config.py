"""TMCA network settings, stored in the plans (``configurations[<name>]['tmca']``).

The trainer writes them into the plans before building the network, and nnU-Net copies the
plans into the model folder, so the static ``build_network_architecture`` rebuilds exactly
the trained network at inference. The defaults here are the trainer's defaults (the trainer
reads them from this class); plans written by older versions are brought to the current
format by ``plans_migration.migrate_plans``. Stage specs count decoder stages in computation
order (0 = lowest resolution); negative numbers count from the highest resolution (-1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from nnunetv2_tmca.model.plans_migration import PLANS_FORMAT, migrate_plans

ALIGN_FEATURES = ("skip", "decoder")
TEXT_UNITS = ("sentences", "report")
TEXT_MIRRORING = ("consistent", "off", "naive")


@dataclass
class TMCAConfig:
    format: int = PLANS_FORMAT  # version of this settings layout (plans_migration.py)
    text_dim: int = 384  # D_enc of the frozen encoder's token states
    text_encoder: str = "default"  # name or path of the frozen encoder (prediction re-encodes with it)
    # "sentences": a report is its sentences, each encoded whole (at most text_max_length tokens each; longer ones
    # are cut into pieces), up to report_max_sentences / report_max_tokens per report; "report": the report is one
    # text cut at text_max_length tokens
    text_units: str = "sentences"
    text_max_length: int = 128
    report_max_sentences: int = 128  # above the longest real reports measured (benchmarks.md, report lengths)
    report_max_tokens: int = 2048
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
    # stage's resolution, which no report has touched) or "decoder" (the stage's decoder features after
    # cross-attention and FiLM, which carry the report)
    align_features: str = "skip"
    use_position: bool = True  # coordinate features in the attention queries and the aligned pixel embeddings
    fuse_target_logits: bool = True  # final logits += beta * target-map logit of the finest aligned stage
    # fuse into every output channel (region-based label sets: each channel a sigmoid region) instead of channels 1:
    # (softmax label sets, channel 0 = background); the trainer writes label_manager.has_regions
    fuse_all_channels: bool = False
    # rows without a report (null text) skip LGTE and the output fusion: their output is the planned U-Net's
    null_bypass: bool = True
    # how training mirrored image-report pairs (see mirroring/); test-time mirroring follows it
    text_mirroring: str = "consistent"

    @classmethod
    def from_dict(cls, d: dict | None) -> "TMCAConfig":
        """Settings from the plans (any format ``migrate_plans`` knows) or a partial dict (the rest: defaults)."""
        d = migrate_plans(dict(d or {}))
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"Unknown TMCA settings in the plans: {sorted(unknown)}")
        for key, allowed in (("text_units", TEXT_UNITS), ("align_features", ALIGN_FEATURES),
                             ("text_mirroring", TEXT_MIRRORING)):
            if key in d and d[key] not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, not {d[key]!r}")
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
