"""How long a corpus's reports are for the text pipeline, and how many reach the report cap.

Every report is split into sentence units exactly as training and prediction split it (``text/sentences.py``:
the sentence splitter, then pieces of at most ``--max_length`` tokens), with the encoder's tokenizer. Printed:
sentences and tokens per report (median, 90th percentile, max) and how many reports exceed the cap of
``--max_sentences`` units / ``--max_tokens`` tokens (default: the model's, ``TMCAConfig``), i.e. how many would
lose their last sentences; and how many reports the sentence split loses or alters a word of (``split_loses_words``:
the word and punctuation tokens of the sentences, in order, must be those of the report, less only the pieces
without a letter or digit that the splitter drops between sentences; expected 0). Case ids of the capped reports
(and of any such report) with ``--list``; report text is never printed.

A reports file maps case id -> text, or -> a dict of sections (CT-RATE's ``Findings_EN``, ``Impressions_EN``,
...): ``--sections`` names the sections that make up the report, joined in that order.

    python benchmarks/report_lengths.py ../shared/datasets/CT-RATE-reports/reports.json
    python benchmarks/report_lengths.py REPORTS.json --max_sentences 128 --max_tokens 2048
"""
from __future__ import annotations

import argparse
import json
import re

import numpy as np

from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.text.encoder import load_tokenizer, resolve_encoder_name
from nnunetv2_tmca.text.layout import unit_lengths
from nnunetv2_tmca.text.sentences import encoding_units, split_sentences

SECTIONS = ("Findings_EN", "Impressions_EN")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w")


def report_texts(entries: dict, sections=SECTIONS) -> dict:
    """case id -> report text; a dict entry is the listed sections that it has, joined (or its "text")."""
    out = {}
    for case, entry in entries.items():
        if isinstance(entry, dict):
            parts = [entry[s] for s in sections if isinstance(entry.get(s), str) and entry[s].strip()]
            entry = "\n".join(parts) if parts else entry.get("text", "")
        if isinstance(entry, str) and entry.strip():
            out[case] = entry
    return out


def report_lengths(reports: dict, tokenizer, max_length: int) -> dict:
    """case id -> (units, tokens): the report's sentence units and their tokens (special tokens included)."""
    out = {}
    for case, text in reports.items():
        units = encoding_units(split_sentences(text), tokenizer, max_length)
        out[case] = (len(units), int(sum(unit_lengths(units, tokenizer, max_length))))
    return out


def split_loses_words(report: str, sentences: list) -> bool:
    """Whether ``sentences`` (the split of ``report``) lose, alter or reorder any token of the report: their tokens
    (``\\w+`` or one other non-space character), in order, must be the report's, skipping only tokens without a letter
    or digit, and only between sentences (the letter-free pieces the splitter drops: "...", a stray "?")."""
    tokens, pos = _TOKEN.findall(report), 0
    for sentence in sentences:
        own = _TOKEN.findall(sentence)
        while tokens[pos:pos + len(own)] != own:
            if pos >= len(tokens) or _WORD.search(tokens[pos]):
                return True
            pos += 1
        pos += len(own)
    return any(_WORD.search(t) for t in tokens[pos:])


def lossy_splits(reports: dict) -> list:
    """Sorted ids of the reports whose sentence split loses or alters a word (``split_loses_words``)."""
    return sorted(case for case, text in reports.items() if split_loses_words(text, split_sentences(text)))


def summary(lengths: dict, max_sentences: int, max_tokens: int, lossy=None) -> tuple[str, list]:
    """(markdown table, sorted ids of the reports over the cap); with ``lossy`` (ids of the reports whose split
    loses a word) a last row counts them."""
    units = np.array([u for u, _ in lengths.values()])
    tokens = np.array([t for _, t in lengths.values()])
    over = sorted(c for c, (u, t) in lengths.items() if u > max_sentences or t > max_tokens)

    def stats(x):
        return f"{np.median(x):.0f} | {np.percentile(x, 90):.0f} | {x.max()}"

    rows = ["| per report | median | 90th percentile | max |", "|---|---:|---:|---:|",
            f"| sentence units | {stats(units)} |", f"| tokens (all units) | {stats(tokens)} |", "",
            f"| cap: {max_sentences} units / {max_tokens} tokens | reports |", "|---|---:|",
            f"| over the unit cap | {int((units > max_sentences).sum())} |",
            f"| over the token cap | {int((tokens > max_tokens).sum())} |",
            f"| over either (their last sentences are dropped) | {len(over)} of {len(lengths)} |"]
    if lossy is not None:
        rows += ["", "| sentence split | reports |", "|---|---:|",
                 f"| loses or alters a word | {len(lossy)} of {len(lengths)} |"]
    return "\n".join(rows), over


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", help="reports.json: case id -> text, or -> {section: text}")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS))
    p.add_argument("--encoder", default=None, help="text encoder (default: $nnUNet_tmca_text_encoder or the bundled)")
    p.add_argument("--max_length", type=int, default=TMCAConfig.text_max_length, help="tokens per sentence unit")
    p.add_argument("--max_sentences", type=int, default=TMCAConfig.report_max_sentences)
    p.add_argument("--max_tokens", type=int, default=TMCAConfig.report_max_tokens)
    p.add_argument("--list", action="store_true", help="also print the case ids of the reports over the cap")
    args = p.parse_args(argv)
    try:
        with open(args.reports) as f:
            entries = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"report_lengths.py: error: cannot read {args.reports}: {e}") from None
    if not isinstance(entries, dict):
        raise SystemExit(f"report_lengths.py: error: {args.reports} must map case ids to reports")
    reports = report_texts(entries, args.sections)
    if not reports:
        raise SystemExit(f"report_lengths.py: error: {args.reports} has no report with text in the sections "
                         f"{', '.join(args.sections)}")
    tokenizer = load_tokenizer(resolve_encoder_name(args.encoder))
    lossy = lossy_splits(reports)
    table, over = summary(report_lengths(reports, tokenizer, args.max_length), args.max_sentences, args.max_tokens,
                          lossy)
    print(f"{len(reports)} reports of {args.reports} (sections {', '.join(args.sections)}), encoder "
          f"{resolve_encoder_name(args.encoder)}:\n")
    print(table)
    if args.list and over:
        print("\nover the cap: " + ", ".join(over))
    if args.list and lossy:
        print("\nsplit loses a word: " + ", ".join(lossy))
    return over


if __name__ == "__main__":
    main()
