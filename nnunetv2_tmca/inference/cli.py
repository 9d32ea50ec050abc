"""``nnUNetv2_predict_tmca`` and ``nnUNetv2_predict_tmca_from_modelfolder``.

Every flag of ``nnUNetv2_predict`` keeps its meaning; added: ``--reports FILE`` (default: the
``reports.json`` next to the input folder, i.e. ``<input>/../reports.json``, which is where a
raw nnU-Net dataset keeps it for imagesTs), ``--no_text`` (image-only: the planned U-Net
through the null bypass, or the learned null text for models trained without it),
``--allow_missing_reports``, ``--agreement`` (writes ``agreement.json``: per case a report-image agreement
score, its flags and the sentences' relevance; one extra image-only pass per case) and ``--trust_checkpoints``
(unpickle checkpoints freely, see nnunetv2_tmca.checkpoints). Inputs are checked before the output folder is
created; expected errors end as one line with exit code 1 (``--verbose``: traceback).
"""
from __future__ import annotations

import argparse
import os

import torch

from nnunetv2_tmca.cli_errors import one_line_errors
from nnunetv2_tmca.errors import UserInputError


def _add_common_arguments(p: argparse.ArgumentParser):
    p.add_argument('-i', type=str, required=True, help='input folder (files named CASE_XXXX.ext as in imagesTs)')
    p.add_argument('-o', type=str, required=True, help='output folder')
    p.add_argument('-f', nargs='+', type=str, required=False, default=(0, 1, 2, 3, 4), help='folds to ensemble')
    p.add_argument('-step_size', type=float, default=0.5, help='sliding window step size (default 0.5)')
    p.add_argument('--disable_tta', action='store_true', help='disable test-time mirroring (the trainer already '
                                                               'restricts it to axes no report word refers to)')
    p.add_argument('--verbose', action='store_true', help='nnU-Net\'s verbose output; errors with traceback')
    p.add_argument('--save_probabilities', action='store_true', help='also export .npz probabilities')
    p.add_argument('--continue_prediction', '--c', action='store_true', help='skip cases already predicted')
    p.add_argument('-chk', type=str, default='checkpoint_final.pth', help='checkpoint name')
    p.add_argument('-npp', type=int, default=3, help='preprocessing processes (0: sequential, no workers)')
    p.add_argument('-nps', type=int, default=3, help='export processes')
    p.add_argument('-prev_stage_predictions', type=str, default=None, help='cascade: previous stage predictions')
    p.add_argument('-device', type=str, default='cuda', help="'cuda', 'cpu' or 'mps'")
    p.add_argument('--disable_progress_bar', action='store_true')
    p.add_argument('--reports', type=str, default=None,
                   help='reports.json (case id -> text) for the input cases; default: <input>/../reports.json')
    p.add_argument('--no_text', action='store_true',
                   help='predict image-only: the planned U-Net (null bypass, the default) or, for models trained '
                        'without the bypass, the learned null text')
    p.add_argument('--allow_missing_reports', action='store_true',
                   help='predict cases without a report image-only, as --no_text does (warning) instead of stopping')
    p.add_argument('--agreement', action='store_true',
                   help='also write agreement.json into the output folder: per case a score in [0, 1] of how well '
                        'the report fits the image, the flags behind it and each sentence\'s relevance (indices, no '
                        'text); costs one extra image-only pass per case (documentation/agreement.md)')
    p.add_argument('--trust_checkpoints', action='store_true',
                   help='load the checkpoints with full unpickling (only for model folders from a source you trust; '
                        'default: weights-only loading, which runs no code from the file)')


def default_reports_path(input_folder: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(input_folder.rstrip('/'))), 'reports.json')


def _device(name: str) -> torch.device:
    if name == 'cpu':
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        return torch.device('cpu')
    if name == 'cuda':
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        return torch.device('cuda')
    if name == 'mps':
        return torch.device('mps')
    raise SystemExit(f"-device must be cpu, cuda or mps, not {name!r}")


def _run(args, model_folder: str, num_parts: int = 1, part_id: int = 0):
    from nnunetv2_tmca.checkpoints import trust_checkpoints
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    from nnunetv2_tmca.inference.safe_outputs import validate_prediction_inputs

    if args.trust_checkpoints:
        trust_checkpoints()
    reports = None
    if args.agreement and args.no_text:
        raise UserInputError("--agreement compares each report with the image: it needs reports, not --no_text")
    if not args.no_text:
        reports = args.reports or default_reports_path(args.i)
        if not os.path.isfile(reports):
            raise UserInputError(f"no reports file at {reports}. Pass --reports FILE, or --no_text to predict "
                                 f"image-only.")
    folds = [i if i == 'all' else int(i) for i in args.f]
    predictor = nnUNetPredictorTMCA(tile_step_size=args.step_size, use_gaussian=True,
                                    use_mirroring=not args.disable_tta, perform_everything_on_device=True,
                                    device=_device(args.device), verbose=args.verbose, verbose_preprocessing=False,
                                    allow_tqdm=not args.disable_progress_bar, reports=reports,
                                    use_text=not args.no_text, allow_missing_reports=args.allow_missing_reports,
                                    agreement=args.agreement)
    predictor.initialize_from_trained_model_folder(model_folder, folds, checkpoint_name=args.chk)
    validate_prediction_inputs(predictor, args.i, args.o, num_parts, part_id)  # before anything is written
    os.makedirs(args.o, exist_ok=True)
    if args.npp == 0 and args.nps == 0 and num_parts == 1:
        predictor.predict_from_files_sequential(args.i, args.o, save_probabilities=args.save_probabilities,
                                                overwrite=not args.continue_prediction,
                                                folder_with_segs_from_prev_stage=args.prev_stage_predictions)
    else:
        predictor.predict_from_files(args.i, args.o, save_probabilities=args.save_probabilities,
                                     overwrite=not args.continue_prediction,
                                     num_processes_preprocessing=args.npp,
                                     num_processes_segmentation_export=args.nps,
                                     folder_with_segs_from_prev_stage=args.prev_stage_predictions,
                                     num_parts=num_parts, part_id=part_id)
    written = predictor.write_agreement(args.o)
    if written:
        low = sum(1 for r in predictor.agreement.values() if r["score"] is not None and r["flags"])
        print(f"agreement scores of {len(predictor.agreement)} cases written to {written} ({low} with flags; "
              f"nnUNetv2_tmca_evaluate lists the lowest)")


@one_line_errors('nnUNetv2_predict_tmca')
def main(argv=None):
    p = argparse.ArgumentParser(description='Predict with a TMCA model (nnUNetTrainerTMCA or a variant), each case '
                                            'with its own report. Same flags as nnUNetv2_predict.')
    _add_common_arguments(p)
    p.add_argument('-d', type=str, required=True, help='dataset name or id')
    p.add_argument('-p', type=str, default='nnUNetPlans', help='plans identifier')
    p.add_argument('-tr', type=str, default='nnUNetTrainerTMCA', help='trainer class used for training')
    p.add_argument('-c', type=str, required=True, help='configuration')
    p.add_argument('-num_parts', type=int, default=1, help='split prediction over several calls')
    p.add_argument('-part_id', type=int, default=0, help='which part this call predicts')
    args = p.parse_args(argv)
    from nnunetv2.utilities.file_path_utilities import get_output_folder
    model_folder = get_output_folder(args.d, args.tr, args.p, args.c)
    if not os.path.isdir(model_folder):
        raise UserInputError(f"model folder {model_folder} does not exist (train first, or check -d/-tr/-p/-c)")
    _run(args, model_folder, args.num_parts, args.part_id)


@one_line_errors('nnUNetv2_predict_tmca_from_modelfolder')
def main_modelfolder(argv=None):
    p = argparse.ArgumentParser(description='Like nnUNetv2_predict_from_modelfolder, for TMCA models with reports.')
    _add_common_arguments(p)
    p.add_argument('-m', type=str, required=True, help='model folder (contains plans.json, dataset.json, fold_X)')
    args = p.parse_args(argv)
    _run(args, args.m)


if __name__ == '__main__':
    main()
