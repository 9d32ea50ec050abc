"""``nnUNetv2_tmca_encode_reports``: encode a dataset's reports once and cache the token states."""
import argparse

from nnunetv2_tmca.text.encoder import DEFAULT_MAX_LENGTH, ENV_TEXT_ENCODER


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Encode the reports.json of an nnU-Net raw dataset with a frozen text encoder and cache the "
                    "token states in $nnUNet_preprocessed/DatasetXXX/tmca_text_cache/. nnUNetTrainerTMCA does "
                    "this itself when its cache is missing; running it ahead of training (e.g. before multi-GPU "
                    "training) saves that step. The trainer uses the encoder named by its class attribute "
                    "text_encoder, else $nnUNet_tmca_text_encoder, else the bundled MiniLM: pass the same one here.")
    parser.add_argument("-d", dest="dataset", nargs="+", required=True, help="dataset name(s) or id(s)")
    parser.add_argument("--text_encoder", default=None,
                        help=f"Hugging Face model id or local folder; default: ${ENV_TEXT_ENCODER} or the bundled "
                             "all-MiniLM-L6-v2")
    parser.add_argument("--max_length", type=int, default=DEFAULT_MAX_LENGTH, help="max tokens per report")
    parser.add_argument("-device", default="cpu", help="cpu, cuda or mps (default cpu)")
    args = parser.parse_args(argv)
    from nnunetv2_tmca.text.cache import encode_dataset_reports
    for d in args.dataset:
        _, table = encode_dataset_reports(d, args.text_encoder, args.max_length, device=args.device)
        print(f"{d}: {len(table.case_to_row)} cases, {len(table.hashes)} unique texts, "
              f"token states {tuple(table.tokens.shape)} -> {table.path}")


if __name__ == "__main__":
    main()
