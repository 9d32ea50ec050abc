"""``nnUNetv2_tmca_convert``: public language-guided segmentation sets -> nnU-Net raw datasets.

    nnUNetv2_tmca_convert {qata,mosmed,monuseg,kvasir} SOURCE -d ID [--name NAME]
        [--layout auto|prolearn|lvit|medvlsm] [--prompt p6] [--overwrite] [--max_cases N]
        [--size N] [--skip_missing] [--no_progress]

Writes ``$nnUNet_raw/DatasetXXX_Name/`` (imagesTr, labelsTr, imagesTs/labelsTs when the source
has a test split, dataset.json, reports.json) and
``$nnUNet_preprocessed/DatasetXXX_Name/splits_final.json`` (fold 0 = official train/val).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict

from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.dataset_conversion.kvasir import DEFAULT_PROMPT, convert_kvasir
from nnunetv2_tmca.dataset_conversion.monuseg import convert_monuseg
from nnunetv2_tmca.dataset_conversion.mosmed import convert_mosmed
from nnunetv2_tmca.dataset_conversion.qata import convert_qata

# dataset name on the command line -> converter(source, dataset_id, **options) -> raw dataset folder
CONVERTERS: Dict[str, Callable[..., str]] = {
    "qata": convert_qata,
    "mosmed": convert_mosmed,
    "monuseg": convert_monuseg,
    "kvasir": convert_kvasir,
}
DATASETS = tuple(CONVERTERS)
TAKES_PROMPT = ("kvasir",)  # datasets whose converter has a ``prompt`` option


def convert(dataset: str, source: str, dataset_id: int, **kwargs) -> str:
    """Dispatch to ``convert_<dataset>``; returns the raw dataset folder.

    ``prompt`` is passed on only to the datasets in :data:`TAKES_PROMPT`; for the others it
    must be None or Kvasir's default (``--prompt p6`` is accepted and ignored).
    """
    fn = CONVERTERS.get(dataset)
    if fn is None:
        raise ConversionError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    prompt = kwargs.pop("prompt", None)
    if prompt is not None:
        if dataset in TAKES_PROMPT:
            kwargs["prompt"] = prompt
        elif prompt != DEFAULT_PROMPT:
            raise ConversionError("--prompt only applies to kvasir")
    return fn(source, dataset_id, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnUNetv2_tmca_convert",
        description="Convert a language-guided segmentation dataset (images, masks, reports) into an nnU-Net "
                    "raw dataset with reports.json, and write splits_final.json (fold 0 = official train/val "
                    "split, folds 1-4 copies of it). Needs nnUNet_raw and nnUNet_preprocessed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Layouts:\n"
               "  qata     prolearn: images/, masks/, reports/*.txt, split.json\n"
               "           lvit:     Train_Folder|Val_Folder|Test_Folder/{img,labelcol}, *_text.xlsx\n"
               "  mosmed   lvit\n"
               "  monuseg  lvit (labelcol masks without mask_ prefix, .tif images matched by stem)\n"
               "  kvasir   medvlsm:  images/*.jpg, masks/*.jpg, anns/{train,val,test}.json\n")
    p.add_argument("dataset", choices=DATASETS, help="which dataset the SOURCE folder holds")
    p.add_argument("source", metavar="SOURCE", help="folder of the downloaded dataset")
    p.add_argument("-d", "--dataset_id", type=int, required=True, help="nnU-Net dataset id (1-999)")
    p.add_argument("--name", default=None, help="dataset name (default: QaTaCOV19, MosMedPlus, MoNuSeg, KvasirSEG)")
    p.add_argument("--layout", default="auto", choices=("auto", "prolearn", "lvit", "medvlsm"),
                   help="source layout (default: detect)")
    p.add_argument("--prompt", default=None, help="kvasir: MedVLSM prompt key used as report (default p6)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder / splits file")
    p.add_argument("--max_cases", type=int, default=None,
                   help="at most N cases per split (train, val, test), a seeded random subset")
    p.add_argument("--size", type=int, default=None,
                   help="resize images (bilinear) and masks (nearest) to NxN")
    p.add_argument("--skip_missing", action="store_true",
                   help="leave out cases with missing/mismatched files or reports (warning) instead of failing")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    p.add_argument("--report_fraction", type=float, default=None, metavar="F",
                   help="keep the reports of only this seeded share of fold 0's training cases (validation and test "
                        "reports stay) and set dataset.json tmca.reports_optional")
    p.add_argument("--report_seed", type=int, default=0, help="seed of the cases that keep their report")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = convert(args.dataset, args.source, args.dataset_id, layout=args.layout, name=args.name,
                      overwrite=args.overwrite, max_cases=args.max_cases, resize=args.size,
                      skip_missing=args.skip_missing, prompt=args.prompt, progress=not args.no_progress)
    except ConversionError as e:
        print(f"nnUNetv2_tmca_convert: error: {e}", file=sys.stderr)
        return 1
    if args.report_fraction is not None:
        from nnunetv2.paths import nnUNet_preprocessed

        from nnunetv2_tmca.dataset_conversion.partial_reports import SPLITS_FILENAME, thin_reports
        dropped = thin_reports(out, args.report_fraction, args.report_seed,
                               os.path.join(nnUNet_preprocessed, os.path.basename(out), SPLITS_FILENAME))
        print(f"{len(dropped)} of fold 0's training cases without a report (reports_optional)")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
