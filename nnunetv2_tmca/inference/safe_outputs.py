"""Prediction outputs that ``--continue_prediction`` can trust, and inputs checked before any write.

- :func:`atomic_exports`: within the block nnU-Net's predictor exports every case through
  :func:`export_prediction_atomically`: the segmentation (and ``.npz``/``.pkl``) are written under a
  hidden temporary name in the output folder and renamed into place when complete, the
  segmentation last. A killed run leaves no cut ``CASE.ext`` behind, only a hidden partial file.
- :func:`drop_unreadable_outputs`: under ``--c`` an existing output counts as done only if it can be
  read back; a zero-byte or cut file (e.g. from an older version or a full disk) is removed with a
  warning naming the case, and the case is predicted again. Hidden partial files are removed.
- :func:`validate_prediction_inputs`: the input folder exists and holds cases, the output folder is
  not the input folder, every case has a report; all before the output folder is created.
"""
from __future__ import annotations

import contextlib
import inspect
import os

from nnunetv2_tmca.errors import UserInputError
from nnunetv2_tmca.io_utils import AGREEMENT_FILE, replace_durably, same_path

PARTIAL_PREFIX = ".tmca_partial-"


def _file_ending(dataset_json) -> str:
    if isinstance(dataset_json, str):
        from batchgenerators.utilities.file_and_folder_operations import load_json
        dataset_json = load_json(dataset_json)
    return dataset_json["file_ending"]


def export_prediction_atomically(predicted_array_or_file, properties_dict, configuration_manager, plans_manager,
                                 dataset_json_dict_or_file, output_file_truncated: str, *args, **kwargs):
    """nnU-Net's ``export_prediction_from_logits`` into temporary names, then renamed into place."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits

    folder, name = os.path.split(os.path.abspath(output_file_truncated))
    partial = f"{PARTIAL_PREFIX}{os.getpid()}-{name}"
    ending = _file_ending(dataset_json_dict_or_file)
    try:
        export_prediction_from_logits(predicted_array_or_file, properties_dict, configuration_manager, plans_manager,
                                      dataset_json_dict_or_file, os.path.join(folder, partial), *args, **kwargs)
        suffixes = [f[len(partial):] for f in os.listdir(folder) if f.startswith(partial + ".")]
        for suffix in sorted(suffixes, key=lambda s: s == ending):  # the segmentation last: it marks "done"
            replace_durably(os.path.join(folder, partial + suffix), os.path.join(folder, name + suffix))
    finally:
        for f in os.listdir(folder):
            if f.startswith(partial + "."):
                os.remove(os.path.join(folder, f))


@contextlib.contextmanager
def atomic_exports():
    """nnU-Net's predictor (files and data-iterator paths, export workers included) exports atomically
    within the block; the module attribute is restored afterwards."""
    import nnunetv2.inference.predict_from_raw_data as prd

    original = prd.export_prediction_from_logits
    prd.export_prediction_from_logits = export_prediction_atomically
    try:
        yield
    finally:
        prd.export_prediction_from_logits = original


def _readable(path: str, reader, probabilities: bool) -> bool:
    if os.path.getsize(path) == 0:
        return False
    try:
        if probabilities:
            import numpy as np
            with np.load(path) as f:
                _ = [f[k] for k in f.files]  # reads every member: CRC checked
        else:
            reader.read_seg(path)
        return True
    except Exception:
        return False


def drop_unreadable_outputs(predictor, args: tuple, kwargs: dict) -> list:
    """Called with the arguments of ``_manage_input_and_output_lists``: when continuing (overwrite
    False), remove existing outputs that cannot be read, so nnU-Net predicts those cases again.
    Returns the removed paths."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder

    bound = inspect.signature(nnUNetPredictor._manage_input_and_output_lists).bind(predictor, *args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    outputs, inputs = a["output_folder_or_list_of_truncated_output_files"], a["list_of_lists_or_source_folder"]
    if a["overwrite"] or outputs is None:
        return []
    ending = predictor.dataset_json["file_ending"]
    if isinstance(outputs, str):
        if isinstance(inputs, str):
            inputs = create_lists_from_splitted_dataset_folder(inputs, ending)
        outputs = [os.path.join(outputs, os.path.basename(files[0])[:-(len(ending) + 5)]) for files in inputs]
    reader = predictor.plans_manager.image_reader_writer_class()
    removed = []
    for truncated in outputs:
        candidates = [(truncated + ending, False)] + ([(truncated + ".npz", True)] if a["save_probabilities"] else [])
        for path, probabilities in candidates:
            if os.path.isfile(path) and not _readable(path, reader, probabilities):
                print(f"WARNING: {path} exists but cannot be read (empty or cut): case "
                      f"{os.path.basename(truncated)!r} is predicted again.")
                os.remove(path)
                removed.append(path)
    for folder in {os.path.dirname(os.path.abspath(t)) for t in outputs}:
        for f in os.listdir(folder) if os.path.isdir(folder) else ():
            if f.startswith(PARTIAL_PREFIX):
                os.remove(os.path.join(folder, f))
    return removed


def validate_prediction_inputs(predictor, input_folder: str, output_folder: str, num_parts: int = 1,
                               part_id: int = 0) -> list:
    """Check the input before anything is written; returns the case ids this call predicts."""
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder

    if not os.path.isdir(input_folder):
        raise UserInputError(f"Input folder {input_folder} does not exist (-i).")
    if same_path(input_folder, output_folder):
        raise UserInputError(f"Output folder {output_folder} is the input folder: the predictions (CASE.ext) would "
                             f"be taken for input images by the next run. Choose another -o.")
    ending = predictor.dataset_json["file_ending"]
    lists = create_lists_from_splitted_dataset_folder(input_folder, ending)
    if not lists:
        raise UserInputError(f"Input folder {input_folder} holds no images named CASE_0000{ending} (nnU-Net's naming "
                             f"of imagesTs; the model was trained on {ending} files).")
    case_ids = [os.path.basename(files[0])[:-(len(ending) + 5)] for files in lists][part_id::num_parts]
    if predictor.use_text and not predictor.allow_missing_reports and \
            any(c not in predictor.reports for c in case_ids):
        predictor.check_reports(case_ids)  # raises: names the reports file and the cases without a report
    return case_ids


def write_agreement(records: dict, output_folder: str) -> str:
    """Merge ``records`` (case id -> agreement record) into ``output_folder/agreement.json``, atomically: the
    records of cases predicted earlier into that folder (``--c``) are kept unless predicted again. An unreadable
    existing file is not overwritten (UserInputError naming it)."""
    from nnunetv2_tmca.io_utils import atomic_write_json, read_agreement_file

    path = os.path.join(output_folder, AGREEMENT_FILE)
    merged = {}
    if os.path.isfile(path):
        try:
            merged = read_agreement_file(path)
        except (OSError, ValueError) as e:
            raise UserInputError(f"{path} exists but cannot be read as agreement records ({e}); move it away to "
                                 f"write the new scores") from None
    merged.update(records)
    atomic_write_json(dict(sorted(merged.items())), path)
    return path
