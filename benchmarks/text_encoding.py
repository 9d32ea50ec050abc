"""Report encoding speed: nnunetv2_tmca's cached encoding vs the encoder's raw batched forward.

Reads the reports of a dataset (a reports.json, or the QaTa-COV19 ProLearn layout's reports/*.txt),
encodes them with ``ensure_text_encodings`` into an empty cache folder (validation, hashing, unique
texts, length-sorted batches, safetensors write) and, on the same unique texts, times the plain
``tokenizer + model`` forward in batches of 32. Both are timed three times, alternating; medians.

    python benchmarks/text_encoding.py --qata ../shared/datasets/QaTa-COV19
    python benchmarks/text_encoding.py --reports $nnUNet_raw/Dataset501_QaTa/reports.json
"""
from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time

import numpy as np


def read_qata_reports(folder: str) -> dict:
    reports = {}
    for f in sorted(glob.glob(os.path.join(folder, "reports", "*.txt"))):
        with open(f, encoding="utf-8") as fh:
            reports[os.path.basename(f)[:-4]] = fh.read().strip()
    return reports


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--qata", help="QaTa-COV19 folder in the ProLearn layout")
    g.add_argument("--reports", help="a reports.json")
    p.add_argument("--text_encoder", default=None)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    import torch
    from nnunetv2_tmca.reports import load_reports
    from nnunetv2_tmca.text.cache import ensure_text_encodings
    from nnunetv2_tmca.text.encoder import FrozenTextEncoder

    reports = read_qata_reports(args.qata) if args.qata else load_reports(args.reports)
    unique = list(dict.fromkeys(reports.values()))
    encoder = FrozenTextEncoder(args.text_encoder)

    def ours():
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            ensure_text_encodings(reports, d, encoder=encoder, logger=lambda m: None, progress=False)
            return time.perf_counter() - t

    def raw_forward():
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(unique), 32):
                batch = encoder.tokenizer(unique[i:i + 32], padding=True, truncation=True,
                                          max_length=encoder.max_length, return_tensors="pt")
                encoder.model(**batch).last_hidden_state.float().numpy()
        return time.perf_counter() - t

    ours(), raw_forward()  # warm-up
    t_ours, t_raw = [], []
    for _ in range(args.rounds):
        t_ours.append(ours())
        t_raw.append(raw_forward())
    t_ours, t_raw = float(np.median(t_ours)), float(np.median(t_raw))
    print(f"\nEncoder {encoder.name}, {torch.get_num_threads()} threads\n")
    print("| cases | unique texts | nnunetv2_tmca encode + cache (s) | texts / s | raw batched forward (s) | "
          "texts / s | ours / raw speed |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(reports)} | {len(unique)} | {t_ours:.2f} | {len(unique) / t_ours:.0f} | {t_raw:.2f} | "
          f"{len(unique) / t_raw:.0f} | {t_raw / t_ours:.2f} |")


if __name__ == "__main__":
    main()
