"""nnUNetTrainerTMCA: nnU-Net's trainer with report guidance (LGTE) and alignment losses.

Flow: reports.json -> cached frozen-encoder token states (``ensure_text_encodings``) ->
per-batch lookup by ``batch['keys']`` -> ``TMCANetwork(image, text)`` -> nnU-Net's DC+CE with
deep supervision + lambda(t) * multi-level alignment loss. ``__init__`` keeps nnU-Net's exact
signature; everything is configured by class attributes (variants override them) and the
network settings are written into the plans, which nnU-Net copies into the model folder.
"""
from __future__ import annotations

import math
import os
from contextlib import ExitStack, contextmanager

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
from nnunetv2_tmca.mirroring.keys import mirrored_key, with_mirrored_reports
from nnunetv2_tmca.mirroring.recording import mirror_flag_data_loaders
from nnunetv2_tmca.mirroring.test_time import paired_mirroring_in_validation
from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.model.network import TMCANetwork, build_tmca_network, select_rows
from nnunetv2_tmca.reports import REPORTS_FILENAME, load_dataset_reports, raw_dataset_case_ids
from nnunetv2_tmca.text.cache import dataset_cache_folder, ensure_text_encodings
from nnunetv2_tmca.text.encoder import resolve_encoder_name
from nnunetv2_tmca.training.progress_logging import TMCALocalLogger
from nnunetv2_tmca.training.text_lookup import TextLookup
from nnunetv2_tmca.training.validation_text import case_text_binding_dataset


def text_key(case_id: str, groups, reportless=()) -> str:
    """Lookup key of a case's report after a flip trading ``groups``; a case without a report has no mirrored
    keys and is looked up (as the null text) by its id."""
    return case_id if case_id in reportless else mirrored_key(case_id, groups)


class nnUNetTrainerTMCA(nnUNetTrainer):
    # --- text side ---
    text_encoder: str | None = None  # None: $nnUNet_tmca_text_encoder or the bundled MiniLM
    # "sentences": every sentence of a report encoded whole (text_max_length tokens per sentence), up to 64
    # sentences / 512 tokens per report, pooled by sentence relevance; "report": one text cut at text_max_length
    # tokens (before 0.3.0; _reportText). Why: documentation/benchmarks.md, "Clinical-style reports"
    text_units: str = "sentences"
    text_max_length: int = 128
    text_dropout: float = 0.15  # probability of replacing a report by the learned null text
    # rows without a report (dropped or missing) skip LGTE and the output fusion: the no-report model is the planned
    # U-Net. Demo set, 3 runs (documentation/benchmarks.md, "Prediction without a report"): no-report per-image Dice
    # 48.6 +- 0.4 vs image-only 48.4 +- 1.6; through the text path (False, the former default) 35.7 +- 9.9
    null_bypass: bool = True
    # > 0: the planned decoder also runs on the same encoder features and its output gets nnU-Net's loss times this
    # weight (the no-report path trained on every row); see _plainPath
    plain_path_weight: float = 0.0
    # share of the batch's rows (drawn each step among those with a report; the others already train the plain path
    # through the bypass) that the plain decoder pass runs on: its cost scales with it (_plainPathQuarter)
    plain_path_rows: float = 1.0
    # > 0: nnU-Net's loss also on the decoder's own output before the target-map fusion, times this weight, so
    # the U-Net's logits stay complete without the report's fusion term (_preFusionLoss)
    prefusion_loss_weight: float = 0.0
    # > 0: nnU-Net's loss once more on the rows without a report (the planned U-Net's own output under the null
    # bypass), times this weight: the plain path gets more weight without a second decoder pass (_nullRowWeight)
    null_row_loss_weight: float = 0.0
    # --- network (overrides of TMCAConfig) ---
    tmca_network: dict = {}
    # attention queries pooled to ~1/4 of the patch per axis at finer decoder stages (why: documentation/
    # benchmarks.md, "Training overhead"); None attends at every stage's resolution
    attention_grid_fraction: float | None = 0.25
    # --- alignment loss ---
    align_weight: float = 1.0  # lambda
    align_warmup_fraction: float = 0.05  # of all training iterations, linear 0 -> lambda
    align_mode: str = "region"  # "region" (TSSD, soft targets, pixel term) or "global" (earlier confounded ablation)
    align_region_pooling: str = "target"  # "target" (TSSD region embedding) or "image" (one whole-image pair)
    # positives of the soft targets besides identical reports: "target" (targets at the same place of the patch,
    # cos of coarse target descriptors >= threshold), "text" (frozen pooled report cos), "group" (none); tssd.py.
    # "group": 3 runs on the demo-sized set, "target" tied with it (-0.9 [-2.0, +0.1] per-image Dice) at 20 % more
    # time per epoch (documentation/benchmarks.md, "Nested ablations", Table 2)
    align_positives: str = "group"
    align_positive_threshold: float = 0.95
    # pixel embeddings of the alignment heads: "skip" (the encoder's skip features at the stage's resolution: image
    # evidence only, no report touched them) or "decoder" (decoder features after the stage's LGTE: they carry the
    # report; the default before 0.4.0, _decoderAlignFeatures). "skip": 3 runs on the demo-sized set, +11.7
    # [+8.4, +15.3] per-image Dice over "decoder" (documentation/benchmarks.md, "Ablations")
    align_features: str = "skip"
    align_tau: float = 0.1
    align_region_weight: float = 1.0
    # the pixel term keeps the no-report path near the image-only level: demo set, 3 runs each, no-report per-image
    # Dice 47.6 +- 1.0 with it, 38.1 +- 3.4 without, image-only 49.0 +- 1.8; it costs true-report Dice at the demo
    # budget and ties on the harder set (documentation/benchmarks.md, "Nested ablations", "Prediction without a report")
    align_pixel_weight: float = 1.0
    # AdamW (lr = 0.1 x nnU-Net's initial lr, same poly decay) for the new modules, nnU-Net's SGD for the U-Net
    # (why: documentation/benchmarks.md, "Synthetic report-guided segmentation", AdamW vs SGD rows)
    text_optimizer: str = "adamw"  # or "sgd": nnU-Net's SGD for every parameter (times text_lr_scale)
    text_lr_scale: float = 0.1
    fusion_lr_scale: float = 1.0  # the output fusion's scalar beta: AdamW at lr 1e-2 (why: training/optimization.py)
    # --- augmentation policy ---
    max_rotation_degrees: float = 15.0
    # "consistent": nnU-Net's mirror axes, each flip trading the report's words (left <-> right, upper <-> lower)
    # in training, validation and prediction; "off": mirror only along axes no report word refers to; "naive":
    # flip, report unchanged (a control). Why the default: documentation/benchmarks.md, "Mirroring".
    text_mirroring: str = "consistent"

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        # which patch axes the report words follow, and what the mirroring mode does with them
        self.report_axes = ReportAxes.from_plans(self.dataset_json, self.plans_manager, self.configuration_manager,
                                                 self.text_mirroring)
        self.logger.local_logger = TMCALocalLogger()
        self.text_lookup = None
        self.alignment_loss = None
        self._iteration_in_epoch = 0
        self._flip_texts = {}  # validation: flip axes -> encoded mirrored report of the current case
        self.reportless_cases = frozenset()  # training cases without a report ("reports_optional"): null text
        install_excepthook("nnUNetv2_train")  # bad reports, encoder, cache, checkpoint: one line, exit code 1
        guard_pretrained_weights_loading()  # -pretrained_weights FILE: loaded without running code from FILE

    # ------------------------------------------------------------------ setup
    def tmca_config(self, text_dim: int) -> TMCAConfig:
        return TMCAConfig.from_dict({"attention_grid_fraction": self.attention_grid_fraction,
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
        lookup_reports = reports
        if self.report_axes.trades_words and self.report_axes.word_groups:
            lookup_reports = with_mirrored_reports(reports, self.report_axes.word_groups.values())
            self.print_to_log_file(f"TMCA text-consistent mirroring: flips along patch axes "
                                   f"{self.report_axes.word_groups} trade report words; {len(lookup_reports) - len(reports)}"
                                   f" mirrored reports of {len(reports)} cases")
        table = ensure_text_encodings(lookup_reports, dataset_cache_folder(self.plans_manager.dataset_name),
                                      self.text_encoder, self.text_max_length, logger=self.print_to_log_file,
                                      progress=self.local_rank == 0, units=self.text_units,
                                      source=os.path.join(raw_folder, REPORTS_FILENAME))
        config = self.tmca_config(table.hidden_size).to_dict()
        # into the plans (saved to the model folder) and into the cached configuration manager
        self.plans_manager.plans['configurations'][self.configuration_name]['tmca'] = config
        self.configuration_manager.configuration['tmca'] = config
        super().initialize()
        self.text_lookup = TextLookup(table, lookup_reports, self.device, no_report=self.reportless_cases)
        self.alignment_loss = self._build_alignment_loss()
        self.print_to_log_file(f"TMCA: LGTE at decoder stages {self.network_module.lgte_stages}, alignment at "
                               f"{sorted(self.network_module.align_stages)}, {self.text_lookup.num_groups} report "
                               f"groups, text dropout {self.text_dropout}, lambda {self.align_weight} "
                               f"({self.align_mode})")

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        """nnU-Net's (``--c``, ``--val``, ``--val_best``), with the file loaded weights-only (nnunetv2_tmca.checkpoints)."""
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
        from nnunetv2_tmca.training.optimization import sgd_with_adamw_text, sgd_with_text_groups
        if self.text_optimizer not in ("adamw", "sgd"):
            raise ValueError(f"text_optimizer must be 'adamw' or 'sgd', not {self.text_optimizer!r}")
        if self.text_optimizer == "sgd" and self.text_lr_scale == 1.0:
            return super().configure_optimizers()
        text = list(self.network_module.text_parameters())
        if self.text_optimizer == "sgd":
            return sgd_with_text_groups(self.network, text, self.initial_lr, self.weight_decay, self.text_lr_scale,
                                        self.num_epochs)
        fusion = self.network_module.output_fusion
        return sgd_with_adamw_text(self.network, text, self.initial_lr, self.weight_decay, self.text_lr_scale,
                                   self.num_epochs, [fusion] if fusion is not None else [], self.fusion_lr_scale)

    def _build_alignment_loss(self):
        stages = self.network_module.align_stages
        if not stages or self.align_weight <= 0:
            return None
        return MultiLevelAlignmentLoss({s: 1.0 for s in stages}, tau=self.align_tau,
                                       region_weight=self.align_region_weight, pixel_weight=self.align_pixel_weight,
                                       mode=self.align_mode, region_pooling=self.align_region_pooling,
                                       positives=self.align_positives,
                                       positive_threshold=self.align_positive_threshold,
                                       group_embeddings=self.text_lookup.group_embeddings
                                       if self.align_positives == "text" else None)

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
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
        from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
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
    def text_keys(self, batch: dict) -> list:
        """Lookup key of each sample's report: its case id, or its mirrored report's key after a flip."""
        keys = list(batch['keys'])
        mirrored = batch.get('mirrored')
        if not self.report_axes.trades_words or mirrored is None:
            return keys
        reportless = getattr(self, "reportless_cases", ())
        return [text_key(k, self.report_axes.groups_for_flip(torch.nonzero(m).flatten().tolist()), reportless)
                for k, m in zip(keys, mirrored)]

    def _align_lambda(self) -> float:
        total = max(1, self.num_epochs * self.num_iterations_per_epoch)
        done = self.current_epoch * self.num_iterations_per_epoch + self._iteration_in_epoch
        warmup = self.align_warmup_fraction * total
        return self.align_weight * (1.0 if warmup <= 0 else min(1.0, done / warmup))

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        self._iteration_in_epoch = 0

    def _stage_targets(self, target, num_stages: int, stages) -> tuple[dict, dict]:
        """Foreground masks (and valid-pixel masks) at the resolution of each aligned decoder stage."""
        fg_masks, valid_masks = {}, {}
        ignore = self.label_manager.ignore_label
        for s in stages:
            idx = num_stages - 1 - s
            t = target[idx] if isinstance(target, list) and idx < len(target) else None
            if t is None:
                raise RuntimeError("TMCA alignment at low-resolution stages needs deep supervision targets")
            if self.label_manager.has_regions:
                regions = t[:, :-1] if self.label_manager.has_ignore_label else t
                fg_masks[s] = (regions > 0).any(1, keepdim=True).float()
                if self.label_manager.has_ignore_label:
                    valid_masks[s] = (1 - t[:, -1:].float())
            else:
                fg = (t > 0)
                if ignore is not None:
                    fg = fg & (t != ignore)
                    valid_masks[s] = (t != ignore).float()
                fg_masks[s] = fg.float()
        return fg_masks, (valid_masks or None)

    def train_step(self, batch: dict) -> dict:
        data = batch['data'].to(self.device, non_blocking=True)
        target = batch['target']
        target = [i.to(self.device, non_blocking=True) for i in target] if isinstance(target, list) \
            else target.to(self.device, non_blocking=True)
        text = self.text_lookup.batch(self.text_keys(batch), dropout=self.text_dropout)

        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device.type, enabled=True) if self.device.type == 'cuda' else dummy_context():
            plain_rows = self._plain_rows(text["null"]) if self.plain_path_weight > 0 else None
            output, aux = self.network(data, text=text, return_alignment=True, return_plain=self.plain_path_weight > 0,
                                       plain_rows=plain_rows)
            loss = self.loss(output, target)
            plain = self.loss(aux["plain"], select_rows(target, plain_rows)) if self.plain_path_weight > 0 else None
            prefusion = self.loss(aux["prefusion"], target) if self.prefusion_loss_weight > 0 else None
            null_rows = self._null_row_loss(output, target, text["null"]) if self.null_row_loss_weight > 0 else None
            align, parts = torch.zeros((), device=self.device), {"region": 0.0, "pixel": 0.0}
            if self.alignment_loss is not None:
                fg, valid = self._stage_targets(target, aux["num_stages"], aux["stages"].keys())
                # the region term needs a report; the pixel term also trains the null text's target map, unless
                # null rows bypass the text path (their target map then reaches no output)
                pixel_rows = ~text["null"] if self.network_module.config.null_bypass else torch.ones_like(text["null"])
                align, parts = self.alignment_loss(aux["stages"], fg, text["group"], ~text["null"], valid,
                                                   pixel_rows=pixel_rows)
            extra = ((self.plain_path_weight, plain), (self.prefusion_loss_weight, prefusion),
                     (self.null_row_loss_weight, null_rows))
            total = loss + self._align_lambda() * align + sum(w * term for w, term in extra if term is not None)

        if self.grad_scaler is not None:
            self.grad_scaler.scale(total).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            total.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.optimizer.step()
        self._iteration_in_epoch += 1
        # 'loss' stays nnU-Net's DC+CE so that progress.png compares with nnUNetTrainer; alignment is logged apart
        return {'loss': loss.detach().cpu().numpy(), 'align_loss': float(align.detach()),
                'align_region': parts["region"], 'align_pixel': parts["pixel"]}

    def _plain_rows(self, null: torch.Tensor) -> torch.Tensor | None:
        """Indices of the rows of the plain decoder pass: ceil(plain_path_rows x B) drawn among the rows with a
        report (then among the others if too few); None for every row."""
        if self.plain_path_rows >= 1:
            return None
        count = max(1, math.ceil(self.plain_path_rows * null.numel()))
        order = torch.randperm(null.numel())
        reportless = null.cpu()[order]
        order = torch.cat((order[~reportless], order[reportless]))  # rows with a report first, each in random order
        return order[:count].sort().values.to(self.device)

    def _null_row_loss(self, output, target, null):
        """nnU-Net's loss on the rows without a report only (None when the batch has none)."""
        if not bool(null.any()):
            return None
        rows = null.to(output[0].device if isinstance(output, list) else output.device)
        return self.loss(select_rows(output, rows), select_rows(target, rows))

    def on_train_epoch_end(self, train_outputs: list):
        super().on_train_epoch_end(train_outputs)
        for key, out_key in (("align_losses", "align_loss"), ("align_region_losses", "align_region"),
                             ("align_pixel_losses", "align_pixel")):
            values = [o[out_key] for o in train_outputs]
            if self.is_ddp:
                import torch.distributed as dist
                gathered = [None] * dist.get_world_size()
                dist.all_gather_object(gathered, values)
                values = [v for g in gathered for v in g]
            self.logger.log(key, float(np.mean(values)), self.current_epoch)

    def on_epoch_end(self):
        self.print_to_log_file('align_loss', np.round(self.logger.get_value('align_losses', step=-1), decimals=4))
        super().on_epoch_end()

    def validation_step(self, batch: dict) -> dict:
        with self.network_module.bind_text(self.text_lookup.batch(self.text_keys(batch))):
            return super().validation_step(batch)

    def perform_actual_validation(self, save_probabilities: bool = False):
        """nnU-Net's validation, with each case's own report bound before its sliding-window inference
        (and, for text-consistent mirroring, each test-time flip paired with the flipped report)."""
        if self.text_lookup is None:  # --val without training: initialize() was called by load_checkpoint
            raise RuntimeError("TMCA trainer not initialized")
        original, current_case = self.dataset_class, ExitStack()

        def bind_case(case_id):  # nnU-Net loads a case, then predicts it: bound until the next case is loaded
            current_case.close()
            current_case.enter_context(self.case_text(case_id))

        self.dataset_class = case_text_binding_dataset(original, bind_case)
        try:
            with paired_mirroring_in_validation(self.network_module, lambda: self._flip_texts) \
                    if self.report_axes.trades_words else dummy_context():
                super().perform_actual_validation(save_probabilities)
        finally:
            self.dataset_class = original
            current_case.close()

    @contextmanager
    def case_text(self, case_id: str):
        """Within the block, the network predicts with the case's report, and each test-time flip with the
        flipped report."""
        self._flip_texts = self.report_axes.flip_texts(
            self.inference_allowed_mirroring_axes,
            lambda groups: self.text_lookup.single(text_key(case_id, groups, self.reportless_cases)))
        try:
            with self.network_module.bind_text(self.text_lookup.single(case_id)):
                yield
        finally:
            self._flip_texts = {}
