"""Report encoding speed: nnunetv2_tmca's cached encoding vs the encoder's raw batched forward.

Reads the reports of a dataset (a reports.json, the QaTa-COV19 ProLearn layout's reports/*.txt, or N
clinical-style reports made by the synthetic generator), encodes them with ``ensure_text_encodings`` into an
empty cache folder (validation, sentence splitting, hashing, unique texts, length-sorted batches,
safetensors write) and, on the same unique texts (the unique sentences with ``--units sentences``, the
default), times the plain ``tokenizer + model`` forward in batches of 32. Both are timed three times,
alternating; medians.

    python benchmarks/text_encoding.py --clinical 10000
    python benchmarks/text_encoding.py --qata ../shared/datasets/QaTa-COV19
    python benchmarks/text_encoding.py --reports $nnUNet_raw/Dataset501_QaTa/reports.json --units report
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


def clinical_reports(n: int, seed: int = 0) -> dict:
    """``n`` clinical-style reports of the synthetic generator (2D, 5-6 look-alike lesions; no images drawn)."""
    from nnunetv2_tmca.synthetic.clinical import render_clinical_report
    from nnunetv2_tmca.synthetic.images import sample_case
    rng = np.random.default_rng(seed)
    reports = {}
    for i in range(n):
        meta = sample_case(rng, 32, 2, num_lesions=(5, 6), typo_rate=0.0)[3]
        reports[f"clinical_{i:05d}"] = render_clinical_report(meta["lesions"], rng, 2)[0]
    return reports


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--qata", help="QaTa-COV19 folder in the ProLearn layout")
    g.add_argument("--reports", help="a reports.json")
    g.add_argument("--clinical", type=int, metavar="N", help="N clinical-style synthetic reports")
    p.add_argument("--units", choices=("sentences", "report"), default="sentences")
    p.add_argument("--text_encoder", default=None)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    import torch

    from nnunetv2_tmca.reports import load_reports
    from nnunetv2_tmca.text.cache import ensure_text_encodings
    from nnunetv2_tmca.text.encoder import DEFAULT_MAX_LENGTH, FrozenTextEncoder
    from nnunetv2_tmca.text.layout import DEFAULT_SENTENCE_LENGTH, report_layouts

    reports = read_qata_reports(args.qata) if args.qata else load_reports(args.reports) if args.reports \
        else clinical_reports(args.clinical)
    encoder = FrozenTextEncoder(args.text_encoder, max_length=DEFAULT_SENTENCE_LENGTH if args.units == "sentences"
                                else DEFAULT_MAX_LENGTH)
    if args.units == "sentences":
        unique = list(report_layouts(reports, encoder.tokenizer, encoder.max_length, logger=lambda m: None)[1].values())
    else:
        unique = list(dict.fromkeys(reports.values()))
    words = [len(t.split()) for t in reports.values()]

    def ours(subset=None):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            ensure_text_encodings(subset or reports, d, encoder=encoder, logger=lambda m: None, progress=False,
                                  units=args.units)
            return time.perf_counter() - t

    def raw_forward(texts=None):
        texts = texts or unique
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(texts), 32):
                batch = encoder.tokenizer(texts[i:i + 32], padding=True, truncation=True,
                                          max_length=encoder.max_length, return_tensors="pt")
                encoder.model(**batch).last_hidden_state.float().numpy()
        return time.perf_counter() - t
    ours(dict(list(reports.items())[:20])), raw_forward(unique[:128])  # warm-up
    t_ours, t_raw = [], []
    for _ in range(args.rounds):
        t_ours.append(ours())
        t_raw.append(raw_forward())
    t_ours, t_raw = float(np.median(t_ours)), float(np.median(t_raw))
    print(f"\nEncoder {encoder.name}, units {args.units} (max {encoder.max_length} tokens each), "
          f"{torch.get_num_threads()} threads; reports of {min(words)}-{max(words)} words (mean {np.mean(words):.0f}), "
          f"{len(set(reports.values()))} unique reports\n")
    print(f"| cases | unique {'sentences' if args.units == 'sentences' else 'texts'} | nnunetv2_tmca split + encode + "
          f"cache (s) | texts / s | raw batched forward (s) | texts / s | ours / raw speed |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(reports)} | {len(unique)} | {t_ours:.2f} | {len(unique) / t_ours:.0f} | {t_raw:.2f} | "
          f"{len(unique) / t_raw:.0f} | {t_raw / t_ours:.2f} |")


if __name__ == "__main__":
    main()
