"""Text-aware nnU-Net predictor: each case is predicted with its own report.

``nnUNetPredictorTMCA`` is used like ``nnUNetPredictor`` (from a model folder, from files, from
numpy arrays, one case at a time) and takes the reports as a mapping, a reports.json path, or
per call. Before each case's sliding-window inference the case's encoded report is bound to
the network (``TMCANetwork.bind_text``); nnU-Net's own sliding window, test-time mirroring
(along the axes the trainer saved in the checkpoint), fold ensembling, resampling and export
run unchanged. ``use_text=False`` predicts with the learned null text (image-only).

Test-time mirroring pairs each flipped tile with the flipped report (left <-> right for a flip
along the axis the dataset's left/right words follow, upper <-> lower likewise), unless the
model was trained with ``text_mirroring="naive"`` (then the report stays as it is, the control).
"""
from __future__ import annotations

import os
from collections import deque

import numpy as np
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

from nnunetv2_tmca.checkpoints import safe_torch_load
from nnunetv2_tmca.inference.paired_mirroring import flip_combinations, predict_with_paired_mirroring
from nnunetv2_tmca.model.network import NULL_TEXT, TMCANetwork
from nnunetv2_tmca.inference.safe_outputs import atomic_exports, drop_unreadable_outputs
from nnunetv2_tmca.reports import ReportError, load_reports, text_hash
from nnunetv2_tmca.text.mirroring import mirror_report
from nnunetv2_tmca.training.augmentation_policy import groups_for_flip, image_is_2d, mirror_word_groups


class nnUNetPredictorTMCA(nnUNetPredictor):
    def __init__(self, *args, reports: dict | str | None = None, use_text: bool = True,
                 allow_missing_reports: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.use_text = use_text
        self.allow_missing_reports = allow_missing_reports
        self.reports, self.reports_source = {}, None
        self._encoder, self._encoded = None, {}
        self._ofile_to_case, self._case_queue, self._sequential = {}, deque(), False
        self._flip_texts = {}  # flip axes -> encoded mirrored report of the bound case (test-time mirroring)
        if reports is not None:
            self.set_reports(reports)

    # ----------------------------------------------------------------- reports
    def set_reports(self, reports: dict | str | None, allow_missing: bool | None = None):
        """A mapping case id -> text, or the path of a reports.json (validated as in training)."""
        if allow_missing is not None:
            self.allow_missing_reports = allow_missing
        if reports is None:
            self.reports, self.reports_source = {}, None
        elif isinstance(reports, (str, os.PathLike)):
            self.reports, self.reports_source = load_reports(reports), str(reports)
        else:
            self.reports, self.reports_source = {str(k): str(v).strip() for k, v in reports.items()}, "<mapping>"
            empty = [k for k, v in self.reports.items() if not v]
            if empty:
                raise ReportError(f"Empty reports for {len(empty)} cases: {empty[:10]}", path=None, case_ids=empty)

    def check_reports(self, case_ids) -> list:
        """Error listing the cases without a report, unless missing reports are allowed (then a warning)."""
        if not self.use_text:
            return []
        missing = [c for c in case_ids if c not in self.reports]
        if missing and not self.allow_missing_reports:
            raise ReportError(f"{len(missing)} of {len(case_ids)} cases have no report in "
                              f"{self.reports_source or 'the reports given'}: {missing[:10]}"
                              f"{' ...' if len(missing) > 10 else ''}. Add them, pass --allow_missing_reports to "
                              f"predict those cases with the learned null text, or --no_text for image-only.",
                              path=self.reports_source, case_ids=missing)
        if missing:
            print(f"WARNING: {len(missing)} cases have no report and are predicted with the learned null text: "
                  f"{missing[:10]}{' ...' if len(missing) > 10 else ''}")
        self._encode([self.reports[c] for c in case_ids if c in self.reports])
        return missing

    # ------------------------------------------------------------------ setup
    @property
    def tmca_network(self) -> TMCANetwork:
        net = getattr(self.network, "_orig_mod", self.network)
        if not isinstance(net, TMCANetwork):
            raise TypeError(f"nnUNetPredictorTMCA needs a model trained with nnUNetTrainerTMCA (or a variant); "
                            f"this one was trained with {self.trainer_name}.")
        return net

    def initialize_from_trained_model_folder(self, model_training_output_dir, use_folds, checkpoint_name="checkpoint_final.pth"):
        missing = []
        if use_folds is not None:
            for f in ([use_folds] if isinstance(use_folds, (str, int)) else use_folds):
                ckpt = os.path.join(model_training_output_dir, f"fold_{f}", checkpoint_name)
                if not os.path.isfile(ckpt):
                    missing.append(ckpt)
        if missing:
            raise FileNotFoundError(f"Missing checkpoint(s): {missing}. Train these folds first or choose other "
                                    f"folds with -f / another checkpoint with -chk.")
        with safe_torch_load():  # a shared model folder is untrusted input: no code from its checkpoints
            super().initialize_from_trained_model_folder(model_training_output_dir, use_folds, checkpoint_name)
        _ = self.tmca_network

    def _text_encoder(self):
        if self._encoder is None:
            from nnunetv2_tmca.text.encoder import FrozenTextEncoder
            cfg = self.tmca_network.config
            self._encoder = FrozenTextEncoder(cfg.text_encoder, max_length=cfg.text_max_length, device=str(self.device),
                                              expected_hidden_size=cfg.text_dim)
        return self._encoder

    def _encode(self, texts):
        new = list({text_hash(t): t for t in texts if text_hash(t) not in self._encoded}.items())
        if not new:
            return
        enc = self._text_encoder().encode([t for _, t in new], progress=self.allow_tqdm and len(new) > 32)
        for i, (h, _) in enumerate(new):
            n = int(enc.mask[i].sum())
            # float16 round trip: the training cache stores float16 token states
            tokens = enc.tokens[i:i + 1, :n].astype(np.float16).astype(np.float32)
            self._encoded[h] = {"tokens": torch.from_numpy(tokens).to(self.device),
                                "mask": torch.from_numpy(enc.mask[i:i + 1, :n]).to(self.device)}

    def text_for_report(self, report: str | None):
        """The tensors bound for one case; None/NULL_TEXT means the learned null text."""
        if not self.use_text or report is None:
            return NULL_TEXT
        self._encode([report])
        return self._encoded[text_hash(report)]

    def bind_case(self, case_id: str | None):
        report = self.reports.get(case_id) if case_id is not None else None
        if self.use_text and report is None and not self.allow_missing_reports:
            raise ReportError(f"No report for case {case_id!r} in {self.reports_source or 'the reports given'}",
                              path=self.reports_source, case_ids=[case_id])
        self._bind_report(report)

    def _bind_report(self, report: str | None):
        """Bind one case's report (None: the learned null text) for the coming sliding-window passes,
        with its mirrored versions for test-time mirroring encoded once here, not per tile."""
        self.tmca_network.set_bound_text(self.text_for_report(report))
        self._flip_texts = {}
        axes = self.allowed_mirroring_axes if self.use_mirroring else None
        if report is None or not self.use_text or not axes or self.tmca_network.config.text_mirroring == "naive":
            return
        groups = mirror_word_groups(self.dataset_json, self.plans_manager.transpose_forward,
                                    len(self.configuration_manager.patch_size), image_is_2d(self.dataset_json)) or {}
        for flip in flip_combinations(axes):
            self._flip_texts[flip] = self.text_for_report(mirror_report(report, groups_for_flip(flip, groups)))

    def _unbind(self):
        self._flip_texts = {}
        self.tmca_network.set_bound_text(None)

    def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
        """nnU-Net's test-time mirroring, each flip predicted with the equally flipped report."""
        if not self._flip_texts:  # no report, no mirroring, or a "naive" model: nnU-Net's own
            return super()._internal_maybe_mirror_and_predict(x)
        return predict_with_paired_mirroring(self.network, self.tmca_network, x, self._flip_texts)

    # -------------------------------------------------------- nnU-Net hooks
    def _manage_input_and_output_lists(self, *args, **kwargs):
        drop_unreadable_outputs(self, args, kwargs)  # --c: an unreadable output is not "done"
        inputs, outputs, prev = super()._manage_input_and_output_lists(*args, **kwargs)
        ending = self.dataset_json["file_ending"]
        case_ids = [os.path.basename(files[0])[:-(len(ending) + 5)] for files in inputs]
        self.check_reports(case_ids)
        if outputs is not None:
            self._ofile_to_case = dict(zip(outputs, case_ids))
        self._case_queue = deque(case_ids)
        return inputs, outputs, prev

    def predict_from_data_iterator(self, data_iterator, save_probabilities=False, num_processes_segmentation_export=3):
        def with_reports():
            order = iter(self._case_queue) if not self._ofile_to_case else None
            for item in data_iterator:
                case = self._ofile_to_case.get(item["ofile"]) if item["ofile"] is not None else None
                if case is None and order is not None:
                    case = next(order, None)
                self.bind_case(case)
                yield item
        try:
            with atomic_exports():
                return super().predict_from_data_iterator(with_reports(), save_probabilities,
                                                          num_processes_segmentation_export)
        finally:
            self._unbind()

    def predict_from_files_sequential(self, list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files,
                                      save_probabilities: bool = False, overwrite: bool = True,
                                      folder_with_segs_from_prev_stage: str = None):
        # same signature as nnU-Net's: it records its arguments by name
        self._sequential = True
        try:
            with atomic_exports():
                return super().predict_from_files_sequential(list_of_lists_or_source_folder,
                                                             output_folder_or_list_of_truncated_output_files,
                                                             save_probabilities, overwrite,
                                                             folder_with_segs_from_prev_stage)
        finally:
            self._sequential = False
            self._unbind()

    def predict_logits_from_preprocessed_data(self, data: torch.Tensor) -> torch.Tensor:
        if self._sequential:
            self.bind_case(self._case_queue.popleft())
        return super().predict_logits_from_preprocessed_data(data)

    # ------------------------------------------------------------ numpy API
    def predict_single_npy_array(self, input_image, image_properties, segmentation_previous_stage=None,
                                 output_file_truncated=None, save_or_return_probabilities=False,
                                 report: str | None = None):
        """nnU-Net's single-case API plus ``report`` (None: the learned null text)."""
        self._bind_report(report)
        try:
            return super().predict_single_npy_array(input_image, image_properties, segmentation_previous_stage,
                                                    output_file_truncated, save_or_return_probabilities)
        finally:
            self._unbind()

    def predict_from_list_of_npy_arrays(self, image_or_list_of_images, segs_from_prev_stage_or_list_of_segs_from_prev_stage,
                                        properties_or_list_of_properties, truncated_ofname, num_processes=3,
                                        save_probabilities=False, num_processes_segmentation_export=3,
                                        reports: list | None = None):
        """nnU-Net's array API plus ``reports``: one text (or None) per image, in order."""
        images = image_or_list_of_images if isinstance(image_or_list_of_images, list) else [image_or_list_of_images]
        reports = list(reports) if reports is not None else [None] * len(images)
        if len(reports) != len(images):
            raise ValueError(f"{len(reports)} reports for {len(images)} images")
        keys = [f"__array_{i}" for i in range(len(images))]
        previous = self.reports
        self.reports = {**previous, **{k: r for k, r in zip(keys, reports) if r is not None}}
        self._ofile_to_case, self._case_queue = {}, deque(keys)
        allow = self.allow_missing_reports
        self.allow_missing_reports = True  # None means the null text here
        try:
            return super().predict_from_list_of_npy_arrays(
                image_or_list_of_images, segs_from_prev_stage_or_list_of_segs_from_prev_stage,
                properties_or_list_of_properties, truncated_ofname, num_processes, save_probabilities,
                num_processes_segmentation_export)
        finally:
            self.reports, self.allow_missing_reports = previous, allow
