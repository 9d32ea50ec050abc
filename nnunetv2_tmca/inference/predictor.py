"""Text-aware nnU-Net predictor: each case is predicted with its own report.

``nnUNetPredictorTMCA`` is used like ``nnUNetPredictor`` (from a model folder, from files, from
numpy arrays, one case at a time) and takes the reports as a mapping, a reports.json path, or
per call. The case travels with its data: every item of the data iterators carries its case id
(and, for arrays, its report), and ``bound_report`` binds that case's encoded report to the
network (``TMCANetwork.bind_text``) for exactly the sliding-window passes of that item. nnU-Net's
own sliding window, test-time mirroring (along the axes the trainer saved in the checkpoint),
fold ensembling, resampling and export run unchanged. ``use_text=False`` predicts with the
learned null text (image-only).

``agreement=True`` also scores, per case, how well the report fits the image (``inference/agreement.py``:
one extra image-only pass per case); the records collect in ``predictor.agreement`` (case id -> record)
and, for predictions written to a folder, in ``agreement.json`` there.

Test-time mirroring pairs each flipped tile with the flipped report (``mirroring/test_time.py``),
unless the model was trained with ``text_mirroring="naive"`` (then the report stays as it is).
"""
from __future__ import annotations

import functools
import os
import re
from contextlib import contextmanager

import numpy as np
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

from nnunetv2_tmca.checkpoints import safe_torch_load
from nnunetv2_tmca.inference.agreement import case_agreement, foreground_probability, no_report_record
from nnunetv2_tmca.inference.safe_outputs import atomic_exports, drop_unreadable_outputs, write_agreement
from nnunetv2_tmca.mirroring.axes import ReportAxes
from nnunetv2_tmca.mirroring.test_time import predict_with_paired_mirroring
from nnunetv2_tmca.mirroring.words import mirror_report
from nnunetv2_tmca.model.network import NULL_TEXT, TMCANetwork
from nnunetv2_tmca.reports import ReportError, load_reports, text_hash

_CHANNEL_SUFFIX = re.compile(r"_\d{4}$")


def case_id_of(files, file_ending: str) -> str:
    """The case id of one case's input files, named ``CASE_XXXX<file_ending>`` as in nnU-Net's imagesTs."""
    name = os.path.basename(files[0])
    stem = name[:-len(file_ending)] if name.endswith(file_ending) else os.path.splitext(name)[0]
    return _CHANNEL_SUFFIX.sub("", stem)


def _tagged(case_ids, reports, ofiles) -> list:
    """One (case id, report or None, output file or None) tag per case: what travels with its data item."""
    n = len(case_ids)
    return list(zip(case_ids, reports if reports is not None else [None] * n, ofiles if ofiles is not None
                    else [None] * n))


def _untag(iterator):
    """nnU-Net's items carry our tag in 'ofile' through its worker processes; unpack it here."""
    for item in iterator:
        item["case_id"], item["report"], item["ofile"] = item["ofile"]
        yield item


class nnUNetPredictorTMCA(nnUNetPredictor):
    def __init__(self, *args, reports: dict | str | None = None, use_text: bool = True,
                 allow_missing_reports: bool = False, agreement: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.use_text = use_text
        self.agreement_enabled = agreement
        self.agreement, self.last_agreement = {}, None  # case id -> record (inference/agreement.py)
        self._bound_case = (None, None)  # (case id, report) of the case being predicted
        self.allow_missing_reports = allow_missing_reports
        self.reports, self.reports_source = {}, None
        self._encoder, self._encoded, self._encoded_units, self._report_units = None, {}, {}, {}
        self._flip_texts = {}  # flip axes -> encoded mirrored report, inside ``bound_report`` only
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
                              f"predict those cases image-only, or --no_text for image-only throughout.",
                              path=self.reports_source, case_ids=missing)
        if missing:
            print(f"WARNING: {len(missing)} cases have no report and are predicted image-only: "
                  f"{missing[:10]}{' ...' if len(missing) > 10 else ''}")
        present = {c: self.reports[c] for c in case_ids if c in self.reports}
        self._encode(list(present.values()), present)
        return missing

    def report_of_case(self, case_id: str) -> str | None:
        """The case's report; None (image-only: the null bypass or the learned null text) only if missing reports are
        allowed."""
        report = self.reports.get(case_id)
        if self.use_text and report is None and not self.allow_missing_reports:
            raise ReportError(f"No report for case {case_id!r} in {self.reports_source or 'the reports given'}",
                              path=self.reports_source, case_ids=[case_id])
        return report

    # ------------------------------------------------------------------ setup
    @property
    def tmca_network(self) -> TMCANetwork:
        net = getattr(self.network, "_orig_mod", self.network)
        if not isinstance(net, TMCANetwork):
            raise TypeError(f"nnUNetPredictorTMCA needs a model trained with nnUNetTrainerTMCA (or a variant); "
                            f"this one was trained with {self.trainer_name}.")
        return net

    def initialize_from_trained_model_folder(self, model_training_output_dir, use_folds,
                                             checkpoint_name="checkpoint_final.pth"):
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

    @functools.cached_property
    def report_axes(self) -> ReportAxes:
        return ReportAxes.from_plans(self.dataset_json, self.plans_manager, self.configuration_manager,
                                     self.tmca_network.config.text_mirroring)

    def _text_encoder(self):
        if self._encoder is None:
            from nnunetv2_tmca.text.encoder import FrozenTextEncoder
            cfg = self.tmca_network.config
            self._encoder = FrozenTextEncoder(cfg.text_encoder, max_length=cfg.text_max_length, device=str(self.device),
                                              expected_hidden_size=cfg.text_dim)
        return self._encoder

    def _encode(self, texts, cases: dict | None = None):
        """Encode reports not yet encoded (``cases``: case id -> report, for the cap warnings' case ids)."""
        new = list({text_hash(t): t for t in texts if text_hash(t) not in self._encoded}.items())
        if not new:
            return
        if self.tmca_network.config.text_units == "sentences":
            return self._encode_sentences(new, cases or {})
        enc = self._text_encoder().encode([t for _, t in new], progress=self.allow_tqdm and len(new) > 32)
        for i, (h, _) in enumerate(new):
            n = int(enc.mask[i].sum())
            # float16 round trip: the training cache stores float16 token states
            tokens = enc.tokens[i:i + 1, :n].astype(np.float16).astype(np.float32)
            self._encoded[h] = {"tokens": torch.from_numpy(tokens).to(self.device),
                                "mask": torch.from_numpy(enc.mask[i:i + 1, :n]).to(self.device)}

    def _encode_sentences(self, new: list, cases: dict):
        """Each report as its sentence units (text/layout.py), every unique unit encoded once."""
        from nnunetv2_tmca.text.layout import report_layouts
        cfg, encoder = self.tmca_network.config, self._text_encoder()
        case_of = {text_hash(t): c for c, t in cases.items()}
        named = {case_of.get(h, f"report {h[:8]}"): t for h, t in new}
        layout, units = report_layouts(named, encoder.tokenizer, cfg.text_max_length, cfg.report_max_sentences,
                                       cfg.report_max_tokens, source=self.reports_source)
        todo = [u for u in units if u not in self._encoded_units]
        if todo:
            enc = encoder.encode([units[u] for u in todo], progress=self.allow_tqdm and len(todo) > 32)
            for i, u in enumerate(todo):
                n = int(enc.mask[i].sum())
                self._encoded_units[u] = enc.tokens[i, :n].astype(np.float16).astype(np.float32)
        for h, unit_hashes in layout.items():
            self._report_units[h] = [units[u] for u in unit_hashes]
            states = [self._encoded_units[u] for u in unit_hashes]
            sentence = np.concatenate([np.full(len(x), k) for k, x in enumerate(states)])
            self._encoded[h] = {"tokens": torch.from_numpy(np.concatenate(states)[None]).to(self.device),
                                "mask": torch.ones(1, len(sentence), dtype=torch.bool, device=self.device),
                                "sentence": torch.from_numpy(sentence[None]).long().to(self.device)}

    def text_for_report(self, report: str | None):
        """The tensors bound for one case; None/NULL_TEXT means the learned null text."""
        if not self.use_text or report is None:
            return NULL_TEXT
        self._encode([report])
        return self._encoded[text_hash(report)]

    # ----------------------------------------------------------------- binding
    @contextmanager
    def bound_report(self, report: str | None, case_id: str | None = None):
        """Within the block, the network predicts with ``report`` (None: the learned null text), and each
        test-time flip with the equally flipped report (encoded once here, not per tile)."""
        flips = {}
        if report is not None and self.use_text and self.use_mirroring:
            flips = self.report_axes.flip_texts(self.allowed_mirroring_axes,
                                                lambda groups: self.text_for_report(mirror_report(report, groups)))
        with self.tmca_network.bind_text(self.text_for_report(report)):
            self._flip_texts, self._bound_case = flips, (case_id, report)
            try:
                yield
            finally:
                self._flip_texts, self._bound_case = {}, (None, None)

    # --------------------------------------------------------------- agreement
    def predict_logits_from_preprocessed_data(self, data: torch.Tensor) -> torch.Tensor:
        """nnU-Net's prediction of one case; with ``agreement`` also the image-only pass and the case's record."""
        logits = super().predict_logits_from_preprocessed_data(data)
        if self.agreement_enabled:
            self._score_agreement(data, logits)
        return logits

    def _score_agreement(self, data: torch.Tensor, logits: torch.Tensor):
        case_id, report = self._bound_case
        if report is None or not self.use_text:
            record = no_report_record()
        else:
            flips, self._flip_texts = self._flip_texts, {}
            try:
                with self.tmca_network.bind_text(NULL_TEXT):
                    image_only = super().predict_logits_from_preprocessed_data(data)
            finally:
                self._flip_texts = flips
            regions = self.label_manager.has_regions
            record = case_agreement(foreground_probability(logits, regions),
                                    foreground_probability(image_only, regions), self.sentence_relevance(report))
        self.last_agreement = record
        if case_id is not None:
            self.agreement[case_id] = record

    def write_agreement(self, output_folder: str) -> str | None:
        """Merge this predictor's records into ``output_folder/agreement.json`` (atomic); its path, or None."""
        if not self.agreement_enabled:
            return None
        return write_agreement(self.agreement, output_folder)

    def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
        """nnU-Net's test-time mirroring, each flip predicted with the equally flipped report."""
        if not self._flip_texts:  # no report, no mirroring, or a "naive" model: nnU-Net's own
            return super()._internal_maybe_mirror_and_predict(x)
        return predict_with_paired_mirroring(self.network, self.tmca_network, x, self._flip_texts)

    # ---------------------------------------------- nnU-Net hooks: the case travels with its data
    def _manage_input_and_output_lists(self, *args, **kwargs):
        drop_unreadable_outputs(self, args, kwargs)  # --c: an unreadable output is not "done"
        inputs, outputs, prev = super()._manage_input_and_output_lists(*args, **kwargs)
        self.check_reports([case_id_of(files, self.dataset_json["file_ending"]) for files in inputs])
        return inputs, outputs, prev

    def _internal_get_data_iterator_from_lists_of_filenames(self, input_list_of_lists, seg_from_prev_stage_files,
                                                            output_filenames_truncated, num_processes):
        case_ids = [case_id_of(files, self.dataset_json["file_ending"]) for files in input_list_of_lists]
        tags = _tagged(case_ids, None, output_filenames_truncated)
        return _untag(super()._internal_get_data_iterator_from_lists_of_filenames(
            input_list_of_lists, seg_from_prev_stage_files, tags, num_processes))

    def predict_from_data_iterator(self, data_iterator, save_probabilities=False, num_processes_segmentation_export=3):
        """nnU-Net's loop; each item must carry 'case_id' (its report is looked up) or 'report'."""
        def bound_items():
            for item in data_iterator:
                if "case_id" not in item and "report" not in item:
                    raise ValueError("nnUNetPredictorTMCA: each data item needs a 'case_id' or a 'report' key")
                report = item.pop("report", None)
                case_id = item.pop("case_id", None)
                if report is None and case_id is not None:
                    report = self.report_of_case(case_id)
                with self.bound_report(report, case_id):
                    yield item  # nnU-Net predicts this item before it asks for the next one
        items = bound_items()
        try:
            with atomic_exports():  # each output complete or absent: --c can trust what exists
                return super().predict_from_data_iterator(items, save_probabilities, num_processes_segmentation_export)
        finally:
            items.close()  # ends the last case's binding

    def predict_from_files_sequential(self, list_of_lists_or_source_folder,
                                      output_folder_or_list_of_truncated_output_files,
                                      save_probabilities: bool = False, overwrite: bool = True,
                                      folder_with_segs_from_prev_stage: str = None):
        """nnU-Net's sequential path (no worker processes), called per case with that case's report bound."""
        # same signature as nnU-Net's: it records its arguments by name
        inputs, outputs, _ = self._manage_input_and_output_lists(
            list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files,
            folder_with_segs_from_prev_stage, overwrite, 0, 1, save_probabilities)
        results = []
        for i, files in enumerate(inputs):
            case_id = case_id_of(files, self.dataset_json["file_ending"])
            with self.bound_report(self.report_of_case(case_id), case_id), atomic_exports():
                results += super().predict_from_files_sequential(
                    [files], [outputs[i]] if outputs is not None else None, save_probabilities, True,
                    folder_with_segs_from_prev_stage) or []
        return results

    # ------------------------------------------------------------ numpy API
    def predict_single_npy_array(self, input_image, image_properties, segmentation_previous_stage=None,
                                 output_file_truncated=None, save_or_return_probabilities=False,
                                 report: str | None = None):
        """nnU-Net's single-case API plus ``report`` (None: the learned null text)."""
        with self.bound_report(report):
            return super().predict_single_npy_array(input_image, image_properties, segmentation_previous_stage,
                                                    output_file_truncated, save_or_return_probabilities)

    def predict_from_list_of_npy_arrays(self, image_or_list_of_images,
                                        segs_from_prev_stage_or_list_of_segs_from_prev_stage,
                                        properties_or_list_of_properties, truncated_ofname, num_processes=3,
                                        save_probabilities=False, num_processes_segmentation_export=3,
                                        reports: list | None = None):
        """nnU-Net's array API plus ``reports``: one text (or None: the learned null text) per image, in order."""
        images = image_or_list_of_images if isinstance(image_or_list_of_images, list) else [image_or_list_of_images]
        reports = list(reports) if reports is not None else [None] * len(images)
        if len(reports) != len(images):
            raise ValueError(f"{len(reports)} reports for {len(images)} images")
        ofiles = [truncated_ofname] if isinstance(truncated_ofname, str) else truncated_ofname
        tags = _tagged([f"array_{i}" for i in range(len(images))], reports, ofiles)
        iterator = self.get_data_iterator_from_raw_npy_data(
            images, segs_from_prev_stage_or_list_of_segs_from_prev_stage, properties_or_list_of_properties, tags,
            num_processes)
        return self.predict_from_data_iterator(_untag(iterator), save_probabilities,
                                               num_processes_segmentation_export)

    def predict_reports(self, input_image, image_properties, reports: list) -> list:
        """One image, several reports (e.g. the true report and edited ones): one segmentation per report,
        in order (None: the learned null text). For counterfactual checks of what the report changes."""
        return [self.predict_single_npy_array(input_image, image_properties, report=r) for r in reports]

    # ------------------------------------------------- which sentences drove the mask
    def report_sentences(self, report: str) -> list:
        """The sentences (units) of ``report`` as the model reads them (one unit for whole-report models)."""
        self._encode([report])
        return list(self._report_units.get(text_hash(report), [report]))

    @torch.no_grad()
    def sentence_relevance(self, report: str) -> list:
        """The relevance r_k of each sentence (sentence_pooling.py; sums to 1): how much each sentence weighs
        in the report's vector and in the cross-attention. [1.0] for whole-report models."""
        r = self.tmca_network.sentence_relevance(self.text_for_report(report))
        n = len(self.report_sentences(report))
        return [1.0] if r is None else [float(v) for v in r[0, :n].cpu()]

    def sentence_effects(self, input_image, image_properties, report: str) -> list:
        """Per sentence k: 1 - Dice(mask with the whole report, mask with sentence k deleted) over the foreground
        (0: deleting it changes nothing; 1: the masks share nothing). One prediction per sentence."""
        sentences = self.report_sentences(report)
        edited = [" ".join(s for j, s in enumerate(sentences) if j != k) or None for k in range(len(sentences))]
        full, *without = self.predict_reports(input_image, image_properties, [report] + edited)
        return [1.0 - _dice(full > 0, m > 0) for m in without]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total
