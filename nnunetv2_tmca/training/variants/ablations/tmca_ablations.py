"""Ablations of TMCA from the one code path (each switches one part off).

none (image only) = nnUNetTrainer; LGTE only = _noAlign; + global contrastive = _globalAlign;
+ TSSD at one level = _singleLevel; + multi-level = nnUNetTrainerTMCA. _noLGTE keeps the
losses but injects no text into the decoder.
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_noAlign(nnUNetTrainerTMCA):
    """LGTE only: no alignment loss (the target-map gate then learns from the segmentation loss alone)."""
    align_weight = 0.0


class nnUNetTrainerTMCA_globalAlign(nnUNetTrainerTMCA):
    """One whole-image embedding per case at the deepest decoder stage, hard one-to-one targets."""
    align_mode = "global"
    tmca_network = {"align_stages": "lowest"}


class nnUNetTrainerTMCA_singleLevel(nnUNetTrainerTMCA):
    """TSSD region + pixel terms at the highest-resolution decoder stage only."""
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
