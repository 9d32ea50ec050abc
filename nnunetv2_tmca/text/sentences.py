"""A report as the frozen encoder reads it: sentences, each short enough to be encoded whole.

``split_sentences(report)``: paragraphs (blank-line separated) are split into sentences by ``sentencex``
(a maintained rule-based splitter that knows abbreviations, decimals, list numbers and CJK full stops);
pieces without a letter or digit ("...", "---", a lone emoji) are dropped, and a piece that starts with a
lower-case letter is joined to the piece before it when that one ends with "?" ("a nodule? in the left lung"
is one sentence: a "?" inside a sentence marks uncertainty, and sentencex would split the finding from its
place there), so no word is lost or moved out of its sentence. ``encoding_units``: each
sentence longer than the encoder's window (``max_length`` tokens with its two special tokens) is cut at
token boundaries into consecutive pieces, so no word is lost. ``cap_units`` applies the report-level cap
(``max_sentences`` units, ``max_tokens`` tokens): far above real reports, and what it drops is reported
to the caller (who warns with the case id), never silent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

SPLITTER = "sentencex"
LANGUAGE = "en"  # sentencex falls back to generic rules (which include CJK full stops) for other text
_PARAGRAPH = re.compile(r"\n\s*\n")
_WORDLIKE = re.compile(r"\w")
# Revision of the rules applied on top of sentencex; part of the cache identity, so that a cache built
# with other rules is rebuilt. 2: a lower-case piece after "?" joins the sentence before it.
RULES = 2


def splitter_version() -> str:
    try:
        from importlib.metadata import version
        return f"{SPLITTER} {version(SPLITTER)} rules {RULES}"
    except Exception:  # pragma: no cover - metadata missing in an unusual install
        return f"{SPLITTER} rules {RULES}"


def split_sentences(report: str) -> list[str]:
    """The sentences of ``report``, whitespace-normalised, in order; [] if it has no word at all. A piece
    starting with a lower-case letter after a piece ending with "?" is joined to it (same paragraph)."""
    from sentencex import segment

    sentences = []
    for paragraph in _PARAGRAPH.split(report):
        first = len(sentences)  # pieces are joined within a paragraph only
        for s in segment(LANGUAGE, paragraph):
            s = " ".join(s.split())
            if not _WORDLIKE.search(s):
                continue
            if len(sentences) > first and sentences[-1].endswith("?") and s[0].islower():
                sentences[-1] += " " + s  # "nodule? in the left lung": the "?" did not end the sentence
            else:
                sentences.append(s)
    return sentences


def encoding_units(sentences: list[str], tokenizer, max_length: int) -> list[str]:
    """Sentences, each longer than ``max_length - 2`` tokens cut into pieces at token boundaries (by the
    tokenizer's character offsets), so every piece is encoded whole."""
    window = max(1, int(max_length) - 2)
    if not sentences:
        return []
    encoded = tokenizer(list(sentences), add_special_tokens=False, return_offsets_mapping=True)
    units = []
    for sentence, offsets in zip(sentences, encoded["offset_mapping"]):
        if len(offsets) <= window:
            units.append(sentence)
            continue
        for start in range(0, len(offsets), window):
            piece = offsets[start:start + window]
            text = sentence[piece[0][0]:piece[-1][1]].strip()
            if text:
                units.append(text)
    return units


@dataclass
class CappedReport:
    units: list  # the units used
    num_units: int  # before the cap
    num_tokens: int  # before the cap (special tokens included)

    @property
    def capped(self) -> bool:
        return len(self.units) < self.num_units


def cap_units(units: list[str], unit_lengths: list[int], max_sentences: int, max_tokens: int) -> CappedReport:
    """The first units within ``max_sentences`` and ``max_tokens`` (lengths with special tokens)."""
    used, total = [], 0
    for unit, n in zip(units, unit_lengths):
        if len(used) >= max_sentences or total + n > max_tokens:
            break
        used.append(unit)
        total += n
    return CappedReport(units=used, num_units=len(units), num_tokens=int(sum(unit_lengths)))
