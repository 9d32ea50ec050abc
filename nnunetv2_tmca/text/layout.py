"""Which sentence units make up each report (``units = "sentences"``).

``report_layouts(reports, tokenizer, ...)`` splits every unique report into sentences
(``sentences.split_sentences``), cuts sentences longer than the encoder's window into pieces, applies the
report-level cap and returns, per report hash, the hashes of its units in order, plus the unique unit
texts (real corpora repeat boilerplate sentences: each is encoded and cached once). The unique sentences
of all reports are tokenised in one batched call. A report without any sentence (only punctuation or
whitespace) is a ReportError naming the file and the cases; a report over the cap is a warning naming the
cases and the counts. Report text is never logged.
"""
from __future__ import annotations

from nnunetv2_tmca.reports import ReportError, format_ids, text_hash
from nnunetv2_tmca.text.sentences import cap_units, encoding_units, split_sentences

DEFAULT_SENTENCE_LENGTH = 128  # tokens per unit, special tokens included (real sentences are far shorter)
DEFAULT_MAX_SENTENCES = 128  # units per report
DEFAULT_MAX_TOKENS = 2048  # tokens per report, all units together


def report_layouts(reports: dict, tokenizer, max_length: int = DEFAULT_SENTENCE_LENGTH,
                   max_sentences: int = DEFAULT_MAX_SENTENCES, max_tokens: int = DEFAULT_MAX_TOKENS,
                   logger=print, source: str | None = None) -> tuple[dict, dict]:
    """(report hash -> [unit hash, ...], unit hash -> unit text) for ``reports`` (case id -> text)."""
    cases_of = {}
    for case, text in reports.items():
        cases_of.setdefault(text_hash(text), (text, []))[1].append(case)
    sentences_of = {h: split_sentences(text) for h, (text, _) in cases_of.items()}
    empty = sorted(c for h, s in sentences_of.items() if not s for c in cases_of[h][1])
    if empty:
        raise ReportError(f"{source or 'reports'}: the report of {format_ids(empty)} has no sentence (only "
                          f"punctuation, symbols or whitespace). Write the report, or remove the case from the "
                          f"reports (with \"reports_optional\" in dataset.json it then trains without one).",
                          path=source, case_ids=empty)
    unique_sentences = sorted({s for ss in sentences_of.values() for s in ss})
    pieces = _pieces_batched(unique_sentences, tokenizer, max_length)
    unit_texts = sorted({u for p in pieces.values() for u in p})
    lengths = dict(zip(unit_texts, unit_lengths(unit_texts, tokenizer, max_length)))
    layout, units = {}, {}
    capped = []
    for h, sentences in sentences_of.items():
        report_units = [u for s in sentences for u in pieces[s]]
        kept = cap_units(report_units, [lengths[u] for u in report_units], max_sentences, max_tokens)
        if kept.capped:
            capped.append((cases_of[h][1], kept))
        layout[h] = [text_hash(u) for u in kept.units]
        units.update((text_hash(u), u) for u in kept.units)
    for cases, kept in capped:
        logger(f"WARNING: {source or 'reports'}: the report of {format_ids(cases)} has {kept.num_units} sentences "
               f"({kept.num_tokens} tokens), over the cap of {max_sentences} sentences / {max_tokens} tokens: its "
               f"first {len(kept.units)} sentences are used.")
    return layout, units


def _pieces_batched(sentences: list, tokenizer, max_length: int) -> dict:
    """sentence -> its units; one tokenizer call for all sentences, a second only for the long ones."""
    window = max(1, int(max_length) - 2)
    if not sentences:
        return {}
    counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    out = {s: [s] for s, n in zip(sentences, counts) if n <= window}
    out.update((s, encoding_units([s], tokenizer, max_length)) for s, n in zip(sentences, counts) if n > window)
    return out


def unit_lengths(units: list, tokenizer, max_length: int) -> list:
    """Tokens of each unit with the special tokens, as the encoder will see it (at most ``max_length``)."""
    if not units:
        return []
    return [min(len(ids), int(max_length)) for ids in tokenizer(list(units), add_special_tokens=True)["input_ids"]]
