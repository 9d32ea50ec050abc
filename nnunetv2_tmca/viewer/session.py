"""What the viewer shows, without any web code: the cases of a folder, a trained model, one segmentation per request.

``ViewerSession.segment(case, report)`` predicts the case with ``report`` (None: no report, the image-only path)
and keeps the result for the page: the mask, the finest target map M = sigmoid(z), each sentence's relevance and
the report-image agreement score (inference/agreement.py; one extra image-only pass). A background thread scores
every case with its own report once, so the case list can be sorted lowest score first. One lock serialises the
model. Report text is never logged: log lines carry case ids, sentence counts and times.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict

import numpy as np

from nnunetv2_tmca.errors import TMCAUserError, UserInputError
from nnunetv2_tmca.inference.visualize import target_maps
from nnunetv2_tmca.viewer.render import display_range, slice_layers

log = logging.getLogger("nnunetv2_tmca.viewer")
MAX_REPORT_CHARS = 20000
KEEP_RESULTS = 8  # segmentations kept for the page (3D volumes are large)


class CaseNotFound(TMCAUserError, KeyError):
    """A case id that is not one of the folder's cases (nothing outside the given folders is served)."""


class ViewerSession:
    def __init__(self, predictor, images_folder: str, reports: dict | None = None, labels_folder: str | None = None):
        from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder
        self.predictor = predictor
        self.ending = predictor.dataset_json["file_ending"]
        lists = create_lists_from_splitted_dataset_folder(images_folder, self.ending)
        if not lists:
            raise UserInputError(f"No images CASE_0000{self.ending} in {images_folder}")
        self.files = {os.path.basename(f[0])[:-(len(self.ending) + 5)]: f for f in lists}
        self.reports = dict(reports or {})
        unknown = sorted(set(self.reports) - set(self.files))
        if unknown:
            log.warning("%d reports name cases without images in %s (ignored)", len(unknown), images_folder)
        self.labels_folder = labels_folder
        self.scores = {}   # case -> agreement record with the case's own report
        self.lock = threading.Lock()
        self._results = OrderedDict()  # case -> result of the last segment() of that case
        self._images = OrderedDict()
        self._scoring = {"done": 0, "total": sum(c in self.reports for c in self.files)}
        self._stop = threading.Event()

    # -------------------------------------------------------------------- cases
    def case_ids(self) -> list:
        return sorted(self.files)

    def check_case(self, case: str) -> str:
        if case not in self.files:
            raise CaseNotFound(case)
        return case

    def case_list(self) -> dict:
        """Cases, lowest agreement score first (unscored last), and how far the background scoring is."""
        rows = []
        for c in self.case_ids():
            rec = self.scores.get(c)
            rows.append({"id": c, "has_report": c in self.reports,
                         "score": None if rec is None else rec["score"],
                         "flags": [] if rec is None else rec["flags"]})
        rows.sort(key=lambda r: (r["score"] is None, r["score"] if r["score"] is not None else 0.0, r["id"]))
        return {"cases": rows, "scoring": dict(self._scoring)}

    def _image(self, case: str):
        if case not in self._images:
            reader = self.predictor.plans_manager.image_reader_writer_class()
            img, props = reader.read_images(self.files[case])
            ref = None
            if self.labels_folder:
                path = os.path.join(self.labels_folder, case + self.ending)
                ref = reader.read_seg(path)[0][0] if os.path.isfile(path) else None
            self._images[case] = (img, props, ref, display_range(img[0]))
            while len(self._images) > KEEP_RESULTS:
                self._images.popitem(last=False)
        self._images.move_to_end(case)
        return self._images[case]

    def case_info(self, case: str) -> dict:
        img, _, ref, _ = self._image(self.check_case(case))
        return {"id": case, "report": self.reports.get(case), "slices": int(img.shape[1]),
                "has_reference": ref is not None, "agreement": self.scores.get(case)}

    # ------------------------------------------------------------- segmenting
    def segment(self, case: str, report: str | None, keep: bool = True) -> dict:
        """Predict ``case`` with ``report`` (None or blank: no report); the summary the page shows. ``keep``: the
        result becomes what the page draws for this case (background scoring does not replace it)."""
        self.check_case(case)
        report = report.strip() if isinstance(report, str) else None
        report = report or None
        if report is not None and len(report) > MAX_REPORT_CHARS:
            raise ValueError(f"report of case {case} longer than {MAX_REPORT_CHARS} characters")
        with self.lock:
            start = time.perf_counter()
            img, props, ref, _ = self._image(case)
            p = self.predictor
            p.agreement_enabled = True
            seg = p.predict_single_npy_array(img, dict(props), report=report)
            record = p.last_agreement
            target = None
            sentences = []
            if report is not None and p.use_text:
                preprocessor = p.configuration_manager.preprocessor_class(verbose=False)
                data, _, props_pp = preprocessor.run_case_npy(img, None, dict(props), p.plans_manager,
                                                              p.configuration_manager, p.dataset_json)
                maps = target_maps(p, data, props_pp, report)
                target = maps[max(maps)] if maps else None
                units, relevance = p.report_sentences(report), p.sentence_relevance(report)
                sentences = [{"index": k, "text": t, "relevance": round(float(r), 4)}
                             for k, (t, r) in enumerate(zip(units, relevance))]
            seconds = time.perf_counter() - start
        seg = np.asarray(seg)
        if seg.ndim == 2:
            seg = seg[None]
        result = {"mask": seg, "map": None if target is None else np.asarray(target).reshape(seg.shape)}
        if keep:
            self._results[case] = result
        while len(self._results) > KEEP_RESULTS:
            self._results.popitem(last=False)
        if report is not None and report == self.reports.get(case):
            self.scores[case] = record
        per_slice = (seg > 0).reshape(seg.shape[0], -1).sum(1)
        log.info("segmented case %s (%s) in %.2f s", case,
                 f"{len(sentences)} sentences" if report is not None else "no report", seconds)
        return {"case": case, "seconds": round(seconds, 3), "slices": int(seg.shape[0]),
                "slice": int(np.argmax(per_slice)) if per_slice.any() else seg.shape[0] // 2,
                "foreground_voxels": int(per_slice.sum()), "agreement": record, "sentences": sentences,
                "has_reference": ref is not None, "has_map": target is not None}

    def layers(self, case: str, k: int) -> dict:
        """PNG layers of slice ``k`` of the case's last segmentation (image, mask, reference, map)."""
        self.check_case(case)
        img, _, ref, window = self._image(case)
        result = self._results.get(case, {})
        if not 0 <= k < img.shape[1]:
            raise ValueError(f"slice {k} outside 0..{img.shape[1] - 1} of case {case}")
        return slice_layers(img[0], window, k, result.get("mask"), ref, result.get("map"))

    def save_report(self, case: str, report: str, folder: str) -> str:
        """Write every report with ``case``'s replaced by ``report`` to a new file in ``folder`` (atomic; an existing
        file is never overwritten); its path. Usable as ``--reports`` of nnUNetv2_predict_tmca."""
        from nnunetv2_tmca.io_utils import atomic_write_json
        self.check_case(case)
        report = (report or "").strip()
        if not report or len(report) > MAX_REPORT_CHARS:
            raise ValueError(f"the edited report of case {case} is empty or longer than {MAX_REPORT_CHARS} characters")
        os.makedirs(folder, exist_ok=True)
        stem = f"reports_edited_{case}_{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = os.path.join(folder, stem + ".json"), 1
        while os.path.exists(path):
            n += 1
            path = os.path.join(folder, f"{stem}-{n}.json")
        atomic_write_json({**self.reports, case: report}, path)
        log.info("saved an edited report of case %s to %s", case, path)
        return path

    # ------------------------------------------------------ background scoring
    def score_all_in_background(self) -> threading.Thread:
        """Score each case with its own report (lowest first in the list as results come in)."""
        def work():
            for case in self.case_ids():
                if self._stop.is_set():
                    return
                if case in self.reports and case not in self.scores:
                    try:
                        self.segment(case, self.reports[case], keep=False)
                    except Exception as e:  # a broken case must not stop the viewer; the page shows no score
                        log.warning("could not score case %s: %s", case, type(e).__name__)
                if case in self.reports:
                    self._scoring["done"] += 1
        thread = threading.Thread(target=work, name="tmca-viewer-scoring", daemon=True)
        thread.start()
        return thread

    def stop(self):
        self._stop.set()
