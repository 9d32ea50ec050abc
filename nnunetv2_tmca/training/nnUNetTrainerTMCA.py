"""nnUNetTrainerTMCA: nnU-Net's trainer with report guidance (LGTE) and alignment losses.

Flow: reports.json -> cached frozen-encoder token states (``ensure_text_encodings``) ->
per-batch lookup by ``batch['keys']`` (``TextLookup``) -> ``TMCANetwork(image, text)`` ->
``TMCAObjective`` (nnU-Net's DC+CE with deep supervision + lambda(t) * multi-level alignment loss).
``__init__`` keeps nnU-Net's exact signature; every class attribute below is a setting (variants
override them), and the network settings are written into the plans, which nnU-Net copies into
the model folder. Why each default: documentation/benchmarks.md.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.helpers import dummy_context
from torch import autocast, nn

from nnunetv2_tmca.checkpoints import guard_pretrained_weights_loading, safe_torch_load
from nnunetv2_tmca.cli_errors import install_excepthook
from nnunetv2_tmca.io_utils import find_raw_dataset_folder
from nnunetv2_tmca.losses import MultiLevelAlignmentLoss
from nnunetv2_tmca.mirroring.axes import ReportAxes
from nnunetv2_tmca.mirroring.keys import mirrored_texts, with_mirrored_reports
from nnunetv2_tmca.mirroring.recording import mirror_flag_data_loaders
from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.model.network import TMCANetwork, build_tmca_network
from nnunetv2_tmca.model.plans_migration import PLANS_FORMAT
from nnunetv2_tmca.reports import REPORTS_FILENAME, load_dataset_reports, raw_dataset_case_ids
from nnunetv2_tmca.text.cache import dataset_cache_folder, ensure_text_encodings
from nnunetv2_tmca.text.encoder import resolve_encoder_name
from nnunetv2_tmca.text.place_phrasing import with_place_phrasings
from nnunetv2_tmca.training.objective import TMCAObjective, warmed_up_weight
from nnunetv2_tmca.training.optimization import backward_and_step, tmca_optimizer
from nnunetv2_tmca.training.progress_logging import TMCALocalLogger, log_alignment_losses
from nnunetv2_tmca.training.text_lookup import TextLookup, batch_text_keys, draw_phrasing_keys
from nnunetv2_tmca.training.validation_text import CaseReportBinding


class nnUNetTrainerTMCA(nnUNetTrainer):
    # --- text side ---
    text_encoder: str | None = None  # None: $nnUNet_tmca_text_encoder or the bundled MiniLM
    # "sentences": every sentence encoded whole (text_max_length tokens each), pooled by sentence relevance;
    # "report": one text cut at text_max_length tokens
    text_units: str = TMCAConfig.text_units
    text_max_length: int = TMCAConfig.text_max_length
    text_dropout: float = 0.15  # probability of replacing a report by the learned null text
    # > 0: each report also in up to this many rephrasings of its lobe places ("upper lobe of the right lung" /
    # "right lung upper lobe" / "right upper lobe"), one drawn per step (text/place_phrasing.py); 0: off
    place_phrasings: int = 0
    # rows without a report (dropped or missing) skip LGTE and the output fusion: the no-report model is the
    # planned U-Net; False: they go through the text path with the learned null text
    null_bypass: bool = TMCAConfig.null_bypass
    # > 0: the planned decoder also runs on the same encoder features, its output gets nnU-Net's loss times this
    # weight (the no-report path trained on every row; _plainPath)
    plain_path_weight: float = 0.0
    # --- network (overrides of TMCAConfig) ---
    tmca_network: dict = {}
    # attention queries pooled to ~1/4 of the patch per axis at finer decoder stages; None: each stage's resolution
    attention_grid_fraction: float | None = TMCAConfig.attention_grid_fraction
    # the alignment heads' pixel input: "skip" (encoder skip features, no report touched them) or "decoder"
    align_features: str = TMCAConfig.align_features
    # --- alignment loss (losses/multilevel.py) ---
    align_weight: float = 1.0  # lambda
    align_warmup_fraction: float = 0.05  # of all training iterations, linear 0 -> lambda
    align_region_pooling: str = "target"  # "target" (TSSD region embedding) or "image" (one whole-image pair)
    # positives of the soft targets besides identical reports: "group" (none) or "target" (targets at the same
    # place: target descriptors' cosine >= threshold); losses/tssd.py
    align_positives: str = "group"
    align_positive_threshold: float = 0.95
    align_tau: float = 0.1
    align_region_weight: float = 1.0
    align_pixel_weight: float = 1.0
    # --- optimizer (training/optimization.py) ---
    text_optimizer: str = "adamw"  # AdamW for the new modules, nnU-Net's SGD for the U-Net; or "sgd" everywhere
    text_lr_scale: float = 0.1
    fusion_lr_scale: float = 1.0  # the output fusion's scalar gain beta, in an AdamW group of its own
    # --- augmentation policy ---
    max_rotation_degrees: float = 15.0  # report words ("upper", "left") must keep their meaning
    # "consistent": nnU-Net's mirror axes, each flip trading the report's words (left <-> right, upper <-> lower)
    # in training, validation and prediction; "off": mirror only along axes no report word refers to; "naive":
    # flip, report unchanged (a control)
    text_mirroring: str = TMCAConfig.text_mirroring

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        # which patch axes the report words follow, and what the mirroring mode does with them
        self.report_axes = ReportAxes.from_plans(self.dataset_json, self.plans_manager, self.configuration_manager,
                                                 self.text_mirroring)
        self.logger.local_logger = TMCALocalLogger()
        self.text_lookup = None
        self.objective = None
        self._iteration_in_epoch = 0
        self.reportless_cases = frozenset()  # training cases without a report ("reports_optional"): null text
        self.phrasing_keys = {}  # case id -> lookup keys of its report's phrasings (place_phrasings > 0)
        install_excepthook("nnUNetv2_train")  # bad reports, encoder, cache, checkpoint: one line, exit code 1
        guard_pretrained_weights_loading()  # -pretrained_weights FILE: loaded without running code from FILE

    # ------------------------------------------------------------------ setup
    def tmca_config(self, text_dim: int) -> TMCAConfig:
        # settings written by this version: the current format, not read as an older plan
        return TMCAConfig.from_dict({"format": PLANS_FORMAT, "attention_grid_fraction": self.attention_grid_fraction,
                                     "align_features": self.align_features, "null_bypass": self.null_bypass,
                                     "fuse_all_channels": self.label_manager.has_regions, **self.tmca_network,
                                     "text_dim": text_dim,
                                     "text_encoder": resolve_encoder_name(self.text_encoder),
                                     "text_max_length": self.text_max_length, "text_units": self.text_units,
                                     "text_mirroring": self.text_mirroring})

    def initialize(self):
        raw_folder = find_raw_dataset_folder(self.plans_manager.dataset_name)
        reports = load_dataset_reports(raw_folder, logger=self.print_to_log_file)
        training_cases = raw_dataset_case_ids(raw_folder)[0]
        self.reportless_cases = frozenset(training_cases) - set(reports)
        self.print_to_log_file(f"TMCA reports: {len(training_cases) - len(self.reportless_cases)} of "
                               f"{len(training_cases)} training cases have a report; {len(self.reportless_cases)} "
                               f"train with the learned null text")
        lookup_reports, self.phrasing_keys = with_place_phrasings(reports, self.place_phrasings,
                                                                  cases=training_cases)
        if self.place_phrasings:
            self.print_to_log_file(f"TMCA place phrasings: {len(lookup_reports) - len(reports)} rephrased reports of "
                                   f"{len(self.phrasing_keys)} cases")
        if self.report_axes.trades_words and self.report_axes.word_groups:
            plain = len(lookup_reports)
            lookup_reports = with_mirrored_reports(lookup_reports, self.report_axes.word_groups.values())
            self.print_to_log_file(f"TMCA text-consistent mirroring: flips along patch axes "
                                   f"{self.report_axes.word_groups} trade report words; "
                                   f"{len(lookup_reports) - plain} mirrored reports of {len(reports)} cases")
        table = ensure_text_encodings(lookup_reports, dataset_cache_folder(self.plans_manager.dataset_name),
                                      self.text_encoder, self.text_max_length, logger=self.print_to_log_file,
                                      progress=self.local_rank == 0, units=self.text_units,
                                      source=os.path.join(raw_folder, REPORTS_FILENAME), derived_texts=mirrored_texts)
        config = self.tmca_config(table.hidden_size).to_dict()
        # into the plans (saved to the model folder) and into the cached configuration manager
        self.plans_manager.plans['configurations'][self.configuration_name]['tmca'] = config
        self.configuration_manager.configuration['tmca'] = config
        super().initialize()
        self.text_lookup = TextLookup(table, lookup_reports, self.device, no_report=self.reportless_cases)
        self.objective = TMCAObjective(self.loss, self._build_alignment_loss(), self.label_manager,
                                       self.plain_path_weight, self.network_module.config.null_bypass)
        self.print_to_log_file(f"TMCA: LGTE at decoder stages {self.network_module.lgte_stages}, alignment at "
                               f"{sorted(self.network_module.align_stages)}, {self.text_lookup.num_groups} report "
                               f"groups, text dropout {self.text_dropout}, lambda {self.align_weight}")

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        """nnU-Net's (``--c``, ``--val``, ``--val_best``), the file loaded weights-only (nnunetv2_tmca.checkpoints)."""
        if not self.was_initialized:
            self.initialize()
        with safe_torch_load():
            super().load_checkpoint(filename_or_checkpoint)

    @property
    def network_module(self) -> TMCANetwork:
        mod = self.network
        if isinstance(mod, torch.nn.parallel.DistributedDataParallel):
            mod = mod.module
        return getattr(mod, "_orig_mod", mod)

    @staticmethod
    def build_network_architecture(plans_manager, configuration_manager, num_input_channels: int,
                                   num_output_channels: int, enable_deep_supervision: bool = True) -> nn.Module:
        unet = get_network_from_plans(configuration_manager.network_arch_class_name,
                                      configuration_manager.network_arch_init_kwargs,
                                      configuration_manager.network_arch_init_kwargs_req_import,
                                      num_input_channels, num_output_channels, allow_init=True,
                                      deep_supervision=enable_deep_supervision)
        return build_tmca_network(unet, configuration_manager.configuration.get('tmca'))

    def configure_optimizers(self):
        return tmca_optimizer(self.network, self.network_module, self.text_optimizer, self.initial_lr,
                              self.weight_decay, self.num_epochs, self.text_lr_scale, self.fusion_lr_scale) \
            or super().configure_optimizers()

    def _build_alignment_loss(self):
        stages = self.network_module.align_stages
        if not stages or self.align_weight <= 0:
            return None
        return MultiLevelAlignmentLoss({s: 1.0 for s in stages}, tau=self.align_tau,
                                       region_weight=self.align_region_weight, pixel_weight=self.align_pixel_weight,
                                       region_pooling=self.align_region_pooling, positives=self.align_positives,
                                       positive_threshold=self.align_positive_threshold)

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
        rotation, dummy_2d, initial_patch_size, mirror_axes = \
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        limit = np.deg2rad(self.max_rotation_degrees)
        rotation = (max(rotation[0], -limit), min(rotation[1], limit))
        # a consistent flip needs to know which words an axis trades: without "report_axes" none is safe
        mirror_axes = self.report_axes.training_mirror_axes(mirror_axes)
        self.inference_allowed_mirroring_axes = mirror_axes
        self.print_to_log_file(f"TMCA augmentation policy: mirror axes {mirror_axes} (text mirroring "
                               f"'{self.text_mirroring}'), rotation limited to +-{self.max_rotation_degrees} deg "
                               f"(report words must keep their meaning)"
                               + ("; dataset.json has no tmca.report_axes, so every axis counts as named by the "
                                  "reports" if self.report_axes.word_groups is None else ""))
        initial_patch_size = get_patch_size(self.configuration_manager.patch_size, rotation, rotation, rotation,
                                            (0.85, 1.25))
        if dummy_2d:
            initial_patch_size[0] = self.configuration_manager.patch_size[0]
        return rotation, dummy_2d, initial_patch_size, mirror_axes

    def get_dataloaders(self):
        if self.text_mirroring != "consistent":
            return super().get_dataloaders()
        with mirror_flag_data_loaders():  # batches also say which axes each sample was flipped along
            return super().get_dataloaders()

    # --------------------------------------------------------------- training
    def text_keys(self, batch: dict, keys=None) -> list:
        """Lookup key of each sample's report: its case id (or ``keys``, e.g. phrasings' keys), or its mirrored
        report's key after a flip."""
        return batch_text_keys(batch['keys'] if keys is None else keys, batch.get('mirrored'), self.report_axes,
                               getattr(self, "reportless_cases", ()))

    def _align_lambda(self) -> float:
        return warmed_up_weight(self.align_weight, self.align_warmup_fraction,
                                self.current_epoch * self.num_iterations_per_epoch + self._iteration_in_epoch,
                                self.num_epochs * self.num_iterations_per_epoch)

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        self._iteration_in_epoch = 0

    def train_step(self, batch: dict) -> dict:
        data = batch['data'].to(self.device, non_blocking=True)
        target = batch['target']
        target = [i.to(self.device, non_blocking=True) for i in target] if isinstance(target, list) \
            else target.to(self.device, non_blocking=True)
        # training steps read one of each report's phrasings (place_phrasings); validation reads them as written
        keys = draw_phrasing_keys(batch['keys'], self.phrasing_keys)
        text = self.text_lookup.batch(self.text_keys(batch, keys), dropout=self.text_dropout)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device.type, enabled=True) if self.device.type == 'cuda' else dummy_context():
            output, aux = self.network(data, text=text, return_alignment=True, plain=self.plain_path_weight > 0)
            total, logged = self.objective(output, aux, target, text, self._align_lambda())
        backward_and_step(total, self.network, self.optimizer, self.grad_scaler)
        self._iteration_in_epoch += 1
        return logged

    def on_train_epoch_end(self, train_outputs: list):
        super().on_train_epoch_end(train_outputs)
        log_alignment_losses(self.logger, train_outputs, self.current_epoch, self.is_ddp)

    def on_epoch_end(self):
        self.print_to_log_file('align_loss', np.round(self.logger.get_value('align_losses', step=-1), decimals=4))
        super().on_epoch_end()

    # ------------------------------------------------------------- validation
    def validation_step(self, batch: dict) -> dict:
        with self.network_module.bind_text(self.text_lookup.batch(self.text_keys(batch))):
            return super().validation_step(batch)

    def case_reports(self) -> CaseReportBinding:
        """Binds a case's report (and each test-time flip's flipped report) for sliding-window inference."""
        return CaseReportBinding(self.network_module, self.text_lookup, self.report_axes,
                                 self.inference_allowed_mirroring_axes, self.reportless_cases)

    def perform_actual_validation(self, save_probabilities: bool = False):
        """nnU-Net's validation, with each case's own report bound before its sliding-window inference
        (and, for text-consistent mirroring, each test-time flip paired with the flipped report)."""
        if self.text_lookup is None:  # --val without training: initialize() was called by load_checkpoint
            raise RuntimeError("TMCA trainer not initialized")
        with self.case_reports().per_loaded_case(self):
            super().perform_actual_validation(save_probabilities)
