"""Ablations of TMCA from the one code path.

Nested ablations (``NESTED_ABLATIONS``): each switches exactly ONE part of the default off and nothing
else (tests/test_ablations.py compares every resolved setting with the default's):
_regionAsGlobal (TSSD region term -> one whole-image pooled pair, same stages), _oneAlignStage (the
alignment losses at one of the default's own stages), _noPixelTerm, _noCrossAttention, _noFiLM,
_noTargetGate, _noFusion, _noPosition, _decoderAlignFeatures (region embeddings from the report-modulated
decoder features instead of the encoder's skip features); and one that switches ON a setting the seeded
ablations did not adopt: _targetPositives (positives for targets at the same place). Results:
documentation/benchmarks.md, "Nested ablations".

Coarser switches: none (image only) = nnUNetTrainer; _noAlign (no alignment loss: LGTE only);
_noLGTE (losses, no text injected into the decoder); _sgd (one optimizer); _fullGrid (no pooled attention grid);
_noAdapterLayer (the text adapter without its transformer layer: cost candidate, under evaluation).
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_noAlign(nnUNetTrainerTMCA):
    """LGTE only: no alignment loss (the target-map gate then learns from the segmentation loss alone)."""
    align_weight = 0.0


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
    """The heads' pixel embeddings from the report-modulated decoder features after the stage's LGTE, not from the
    encoder's skip features (the form of models whose plans say so)."""
    align_features = "decoder"


class nnUNetTrainerTMCA_targetPositives(nnUNetTrainerTMCA):
    """Positives also for cases whose targets sit at the same place (paraphrases are not pushed apart), not
    only for identical reports (switched ON: the default keeps identical-report positives, see the trainer)."""
    align_positives = "target"


class nnUNetTrainerTMCA_noAdapterLayer(nnUNetTrainerTMCA):
    """The text adapter without its transformer layer (projection and position only): a candidate for the training
    cost of real-length reports, under evaluation (documentation/benchmarks.md, "Training overhead")."""
    tmca_network = {"adapter_layers": 0}


NESTED_ABLATIONS = (nnUNetTrainerTMCA_regionAsGlobal, nnUNetTrainerTMCA_oneAlignStage, nnUNetTrainerTMCA_noPixelTerm,
                    nnUNetTrainerTMCA_noCrossAttention, nnUNetTrainerTMCA_noFiLM, nnUNetTrainerTMCA_noTargetGate,
                    nnUNetTrainerTMCA_noFusion, nnUNetTrainerTMCA_noPosition, nnUNetTrainerTMCA_decoderAlignFeatures,
                    nnUNetTrainerTMCA_targetPositives)
