"""Ablations of TMCA from the one code path.

Nested ablations (``NESTED_ABLATIONS``): each switches exactly ONE part of the default off and nothing
else (tests/test_ablations.py compares every resolved setting with the default's):
_regionAsGlobal (TSSD region term -> one whole-image pooled pair, same stages), _oneAlignStage (the
alignment losses at one of the default's own stages), _noPixelTerm, _noCrossAttention, _noFiLM,
_noTargetGate, _noFusion, _noPosition, _decoderAlignFeatures (region embeddings from the report-modulated
decoder features, the default before 0.4.0, instead of the encoder's skip features); and one that switches ON
a change of #16 that the seeded ablations did not adopt: _targetPositives (positives for targets at the same
place).

Coarser switches: none (image only) = nnUNetTrainer; _noAlign (no alignment loss: LGTE only);
_noLGTE (losses, no text injected into the decoder). _globalAlign and _singleLevel are kept for the
earlier tables of documentation/benchmarks.md; they change several settings at once (_globalAlign:
pooling, targets, pixel term and stage; _singleLevel: a stage the default never aligns).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_noAlign(nnUNetTrainerTMCA):
    """LGTE only: no alignment loss (the target-map gate then learns from the segmentation loss alone)."""
    align_weight = 0.0


class nnUNetTrainerTMCA_globalAlign(nnUNetTrainerTMCA):
    """Earlier tables (confounded): one whole-image embedding per case at the deepest decoder stage, hard
    one-to-one targets, no pixel term. The nested form is _regionAsGlobal."""
    align_mode = "global"
    tmca_network = {"align_stages": "lowest"}


class nnUNetTrainerTMCA_singleLevel(nnUNetTrainerTMCA):
    """Earlier tables (confounded): TSSD region + pixel terms at the highest-resolution decoder stage only, a
    stage the default does not align. The nested form is _oneAlignStage."""
    tmca_network = {"align_stages": "highest"}


class nnUNetTrainerTMCA_noLGTE(nnUNetTrainerTMCA):
    """Alignment losses on the decoder features, but no text injected into them."""
    tmca_network = {"lgte_stages": "none"}


class nnUNetTrainerTMCA_sgd(nnUNetTrainerTMCA):
    """nnU-Net's SGD (lr 1e-2, momentum 0.99) for the new modules too, instead of AdamW."""
    text_optimizer, text_lr_scale = "sgd", 1.0


class nnUNetTrainerTMCA_fullGrid(nnUNetTrainerTMCA):
    """Cross-attention at every LGTE stage's own resolution (no pooled attention grid at the finer stages)."""
    attention_grid_fraction = None


# ------------------------------------------------------------------------------------ nested ablations
class nnUNetTrainerTMCA_regionAsGlobal(nnUNetTrainerTMCA):
    """TSSD region term -> one whole-image pooled embedding per case, at the same stages, same soft targets."""
    align_region_pooling = "image"


class nnUNetTrainerTMCA_oneAlignStage(nnUNetTrainerTMCA):
    """Alignment losses at one stage only: the highest-resolution one of the default's stages."""
    tmca_network = {"align_stages": "middle_highest"}


class nnUNetTrainerTMCA_noPixelTerm(nnUNetTrainerTMCA):
    align_pixel_weight = 0.0


class nnUNetTrainerTMCA_noCrossAttention(nnUNetTrainerTMCA):
    tmca_network = {"use_cross_attention": False}


class nnUNetTrainerTMCA_noFiLM(nnUNetTrainerTMCA):
    tmca_network = {"use_film": False}


class nnUNetTrainerTMCA_noTargetGate(nnUNetTrainerTMCA):
    """No target map as spatial attention in LGTE (the heads and losses stay)."""
    tmca_network = {"use_target_map": False}


class nnUNetTrainerTMCA_noFusion(nnUNetTrainerTMCA):
    """No target-informed output fusion."""
    tmca_network = {"fuse_target_logits": False}


class nnUNetTrainerTMCA_noPosition(nnUNetTrainerTMCA):
    """No coordinate features in the attention queries and the aligned pixel embeddings."""
    tmca_network = {"use_position": False}


class nnUNetTrainerTMCA_decoderAlignFeatures(nnUNetTrainerTMCA):
    """The heads' pixel embeddings from the report-modulated decoder features after the stage's LGTE (the default
    before 0.4.0), not from the encoder's skip features."""
    align_features = "decoder"


class nnUNetTrainerTMCA_skipAlignFeatures(nnUNetTrainerTMCA):
    """Identical to the default since 0.4.0 (skip features); kept under this name for the earlier tables."""
    align_features = "skip"


class nnUNetTrainerTMCA_skipGlobalAlignFeatures(nnUNetTrainerTMCA):
    """The heads' pixel embeddings from the skip features plus the encoder's bottleneck (whole-patch context; both
    text-free): P_s = phi_s(S_s) + up(W_c C) + W_p pos."""
    align_features = "skip_global"


class nnUNetTrainerTMCA_targetPositives(nnUNetTrainerTMCA):
    """Positives also for cases whose targets sit at the same place (paraphrases are not pushed apart), not
    only for identical reports (switched ON: the default keeps identical-report positives, see the trainer)."""
    align_positives = "target"


NESTED_ABLATIONS = (nnUNetTrainerTMCA_regionAsGlobal, nnUNetTrainerTMCA_oneAlignStage, nnUNetTrainerTMCA_noPixelTerm,
                    nnUNetTrainerTMCA_noCrossAttention, nnUNetTrainerTMCA_noFiLM, nnUNetTrainerTMCA_noTargetGate,
                    nnUNetTrainerTMCA_noFusion, nnUNetTrainerTMCA_noPosition, nnUNetTrainerTMCA_decoderAlignFeatures,
                    nnUNetTrainerTMCA_targetPositives)
