"""``nnUNetv2_tmca_make_synthetic``: write the synthetic dataset (:func:`~.dataset.make_synthetic_dataset`)
into ``$nnUNet_raw`` (or ``-o``); ``--report_fraction`` then keeps the reports of only a seeded share of the
training cases (:func:`nnunetv2_tmca.dataset_conversion.partial_reports.thin_reports`)."""
import argparse
import os
import sys
from typing import Optional, Sequence

from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.reports import REPORTS_FILENAME
from nnunetv2_tmca.synthetic.dataset import REPORT_STYLES, make_synthetic_dataset
from nnunetv2_tmca.synthetic.real_prose import DEFAULT_PATIENT_PATTERN


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnUNetv2_tmca_make_synthetic",
        description="Create the synthetic TMCA dataset (several look-alike lesions; the report names the targets) "
                    "in $nnUNet_raw/DatasetXXX_Name.")
    parser.add_argument("-d", "--dataset_id", type=int, default=990, help="dataset id (default 990)")
    parser.add_argument("--name", default="TMCASynthetic", help="dataset name (default TMCASynthetic)")
    parser.add_argument("--num_train", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=10)
    parser.add_argument("--size", type=int, default=None, help="edge length (default 64 for 2D, 32 for 3D)")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--num_lesions", type=int, nargs=2, default=(4, 5), metavar=("MIN", "MAX"),
                        help="look-alike lesions per image, at most 6 (default 4 5; the benchmark uses 5 6)")
    parser.add_argument("--num_targets", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"),
                        help="of them named by the report (default 1 3)")
    parser.add_argument("--empty_fraction", type=float, default=0.0, help="fraction of cases without target")
    parser.add_argument("--typo_rate", type=float, default=0.05, help="fraction of reports with a typo")
    parser.add_argument("--report_style", choices=REPORT_STYLES, default="short",
                        help="short: one sentence naming the targets (default); clinical: EXAMINATION / INDICATION / "
                             "COMPARISON / FINDINGS / IMPRESSION reports, 80+ words, the target (nodules) among "
                             "other named findings; real: real reports of --report_corpus, one real lung-nodule "
                             "sentence naming the targets' lobes at the patient's side")
    parser.add_argument("--report_corpus", default=None, metavar="FILE",
                        help="real style: JSON file, report key -> report text or key -> sections (the ones named "
                             "*finding* and *impression* are used)")
    parser.add_argument("--patient_pattern", default=DEFAULT_PATIENT_PATTERN, metavar="RE",
                        help="real style: regular expression whose group 1 is the patient of a report key "
                             f"(default {DEFAULT_PATIENT_PATTERN!r}; a key it does not match is its own patient)")
    parser.add_argument("--test_fraction", type=float, default=0.3, metavar="F",
                        help="real style: share of the patients whose text goes to the test cases (default 0.3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--report_fraction", type=float, default=None, metavar="F",
                        help="keep the reports of only this seeded share of the training cases (test reports stay) "
                             "and set dataset.json tmca.reports_optional")
    parser.add_argument("-o", "--output", default=None, help="raw data root (default: $nnUNet_raw)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    raw_root = args.output or os.environ.get("nnUNet_raw")
    if not raw_root:
        parser.error("no output folder: pass -o RAW_ROOT or set nnUNet_raw")
    if (args.report_style == "real") != (args.report_corpus is not None):
        parser.error("--report_style real needs --report_corpus FILE (and --report_corpus needs --report_style real)")
    size = args.size if args.size is not None else (64 if args.dim == 2 else 32)
    try:
        folder = make_synthetic_dataset(raw_root, args.dataset_id, args.name, args.num_train, args.num_test,
                                        size=size, dim=args.dim, num_lesions=tuple(args.num_lesions),
                                        num_targets=tuple(args.num_targets), empty_fraction=args.empty_fraction,
                                        typo_rate=args.typo_rate, seed=args.seed, overwrite=args.overwrite,
                                        report_style=args.report_style, report_corpus=args.report_corpus,
                                        patient_pattern=args.patient_pattern, test_fraction=args.test_fraction)
    except (ConversionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    dropped = []
    if args.report_fraction is not None:
        from nnunetv2_tmca.dataset_conversion.partial_reports import thin_reports
        dropped = thin_reports(folder, args.report_fraction, seed=args.seed)
    n_empty = int(round(args.empty_fraction * args.num_train)) + int(round(args.empty_fraction * args.num_test))
    print(f"Wrote {folder}")
    print(f"  {args.dim}D, size {size}, {args.num_train} training cases, {args.num_test} test cases, "
          f"{n_empty} without target, {args.report_style} reports in {REPORTS_FILENAME}"
          + (f" ({len(dropped)} training cases without one: reports_optional)" if dropped else ""))


if __name__ == "__main__":
    main()
