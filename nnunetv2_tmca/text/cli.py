"""``nnUNetv2_tmca_encode_reports``: encode a dataset's reports once and cache the token states."""
import argparse

from nnunetv2_tmca.cli_errors import one_line_errors
from nnunetv2_tmca.text.encoder import DEFAULT_MAX_LENGTH, ENV_TEXT_ENCODER
from nnunetv2_tmca.text.layout import DEFAULT_SENTENCE_LENGTH


@one_line_errors("nnUNetv2_tmca_encode_reports")
def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Encode the reports.json of an nnU-Net raw dataset with a frozen text encoder and cache the "
                    "token states in $nnUNet_preprocessed/DatasetXXX/tmca_text_cache/. nnUNetTrainerTMCA does "
                    "this itself when its cache is missing; running it ahead of training (e.g. before multi-GPU "
                    "training) saves that step. The trainer uses the encoder named by its class attribute "
                    "text_encoder, else $nnUNet_tmca_text_encoder, else the bundled MiniLM: pass the same one here. "
                    "The cache keeps exactly the current reports' encodings: those of removed reports are deleted.")
    parser.add_argument("-d", dest="dataset", nargs="+", required=True, help="dataset name(s) or id(s)")
    parser.add_argument("--text_encoder", default=None,
                        help=f"Hugging Face model id or local folder; default: ${ENV_TEXT_ENCODER} or the bundled "
                             "all-MiniLM-L6-v2")
    parser.add_argument("--units", choices=("sentences", "report"), default="sentences",
                        help="sentences (the trainer's default: every sentence encoded whole, cached once per unique "
                             "sentence) or report (one text per report, cut at --max_length tokens: _reportText)")
    parser.add_argument("--max_length", type=int, default=None,
                        help=f"max tokens per sentence (default {DEFAULT_SENTENCE_LENGTH}) or per report with --units "
                             f"report (default {DEFAULT_MAX_LENGTH}), >= 2")
    parser.add_argument("-device", default="cpu", help="cpu, cuda or mps (default cpu)")
    parser.add_argument("--verbose", action="store_true", help="show full tracebacks of errors")
    args = parser.parse_args(argv)
    from nnunetv2_tmca.mirroring.keys import mirrored_texts
    from nnunetv2_tmca.reports import text_hash
    from nnunetv2_tmca.text.cache import encode_dataset_reports
    from nnunetv2_tmca.text.encoder import check_max_length
    if args.max_length is None:
        args.max_length = DEFAULT_SENTENCE_LENGTH if args.units == "sentences" else DEFAULT_MAX_LENGTH
    check_max_length(args.max_length)  # before any dataset is read
    for d in args.dataset:
        reports, table = encode_dataset_reports(d, args.text_encoder, args.max_length, device=args.device,
                                                units=args.units, derived_texts=mirrored_texts)
        unique = len({text_hash(t) for t in reports.values()})
        if table.layout is not None:
            print(f"{d}: {len(reports)} cases with reports, {unique} unique reports, {len(table.hashes)} unique "
                  f"sentences, hidden size {table.hidden_size} -> {table.path}")
            continue
        extra = len(table.hashes) - unique
        print(f"{d}: {len(reports)} cases with reports, {unique} unique texts, hidden size {table.hidden_size} -> "
              f"{table.path}" + (f" (also holds {extra} mirrored versions for training)" if extra > 0 else ""))


if __name__ == "__main__":
    main()
