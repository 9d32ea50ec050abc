"""Cache of frozen-encoder token states, one row per *unique* text: a sentence unit (``units = "sentences"``,
the default: real corpora repeat boilerplate sentences) or a whole report (``"report"``).

File: ``$nnUNet_preprocessed/DatasetXXX/tmca_text_cache/<encoder>__S<max_length>.safetensors`` (sentences) or
``__L<max_length>`` (reports), never inside the plans' data folder, whose dataset class expects case files only.
Tensors ``flat`` (T, D) float16 (the valid token states of all rows, one after the other: no padding),
``lengths`` (N,) int64, ``pooled`` (N, D) float32; the header metadata holds the format tag, the
encoder identity and the sha256 of each text in row order. safetensors never unpickles. A cache
whose identity differs is stale, one that cannot be parsed, has another format tag (also the padded
format v1) or is inconsistent (also: token states whose size contradicts the stored identity) is
corrupt: both are rebuilt with a warning. Texts that are new since the last run are encoded and
appended (incremental); rows of texts no longer in the reports (nor derived from one, see
``derived_texts``) are removed, so the file holds exactly the current reports' encodings. Writes
are atomic.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from nnunetv2_tmca.errors import TMCAUserError
from nnunetv2_tmca.io_utils import atomic_write_bytes
from nnunetv2_tmca.reports import text_hash
from nnunetv2_tmca.text.encoder import (
    DEFAULT_MAX_LENGTH,
    FrozenTextEncoder,
    check_max_length,
    encoder_identity,
    load_tokenizer,
    resolve_encoder_name,
)
from nnunetv2_tmca.text.layout import DEFAULT_MAX_SENTENCES, DEFAULT_MAX_TOKENS, report_layouts

CACHE_FORMAT = "nnunetv2_tmca.text_cache.v2"  # ragged token states; any other tag is rebuilt
CACHE_SUBFOLDER = "tmca_text_cache"
UNITS = ("report", "sentences")


class TextCacheError(TMCAUserError, RuntimeError):
    """A cache file exists but cannot be used."""


@dataclass
class TextEncodingTable:
    """Unique-text encodings (ragged: the valid token states of all rows, one after the other) plus the
    case -> row lookup used by trainer and predictor."""

    flat: np.ndarray  # (T, D) float16: row i's token states are flat[offsets[i]:offsets[i + 1]]
    lengths: np.ndarray  # (N,) int64 tokens per row
    pooled: np.ndarray  # (N, D) float32
    hashes: list  # sha256 of each row's text
    identity: dict
    path: str | None = None
    case_to_row: dict | None = None
    # sentence units: report hash -> the rows of its units (sentences) in order; None: one row per report
    layout: dict | None = None

    @classmethod
    def from_padded(cls, tokens, mask, pooled, hashes, identity, path=None) -> "TextEncodingTable":
        mask = np.asarray(mask, dtype=bool)
        return cls(flat=np.asarray(tokens, dtype=np.float16)[mask].reshape(-1, tokens.shape[-1]),
                   lengths=mask.sum(1).astype(np.int64), pooled=np.asarray(pooled, dtype=np.float32),
                   hashes=list(hashes), identity=identity, path=path)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    @property
    def hidden_size(self) -> int:
        return int(self.pooled.shape[-1]) if self.pooled.size else int(self.flat.shape[-1])

    @property
    def mask(self) -> np.ndarray:
        """(N, L) bool, L the longest row (a padded view, for small tables and tests)."""
        length = max(1, int(self.lengths.max())) if len(self.lengths) else 1
        return np.arange(length)[None, :] < self.lengths[:, None]

    @property
    def tokens(self) -> np.ndarray:
        """(N, L, D) float16, zero where ``mask`` is False."""
        mask = self.mask
        out = np.zeros((*mask.shape, self.flat.shape[-1]), dtype=np.float16)
        out[mask] = self.flat
        return out

    def row_of_hash(self) -> dict:
        return {h: i for i, h in enumerate(self.hashes)}

    def units_of_reports(self, reports: dict) -> dict:
        """Report hash -> the table rows of its units, for every report of ``reports`` (case id -> text)."""
        if self.layout is not None:
            missing = [c for c, t in reports.items() if text_hash(t) not in self.layout]
            if missing:
                raise TextCacheError(f"{len(missing)} reports have no sentence layout in the text table {self.path} "
                                     f"(first cases: {missing[:10]}).")
            return {text_hash(t): self.layout[text_hash(t)] for t in reports.values()}
        rows = self.bind_cases(reports).row_of_hash()
        return {text_hash(t): [rows[text_hash(t)]] for t in reports.values()}

    def bind_cases(self, reports: dict) -> "TextEncodingTable":
        """Map every case id of ``reports`` to its row; all texts must be in the table (one row per report)."""
        if self.layout is not None:
            raise TextCacheError("a sentence-unit table has no row per report: use units_of_reports")
        rows = self.row_of_hash()
        missing = [c for c, t in reports.items() if text_hash(t) not in rows]
        if missing:
            raise TextCacheError(f"{len(missing)} reports are not in the text cache {self.path} "
                                 f"(first cases: {missing[:10]}); rebuild it with nnUNetv2_tmca_encode_reports.")
        self.case_to_row = {c: rows[text_hash(t)] for c, t in reports.items()}
        return self

    def rows_for(self, case_ids) -> np.ndarray:
        try:
            return np.array([self.case_to_row[c] for c in case_ids], dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"Case {e.args[0]} has no report in the text table ({self.path}).") from None


def encoder_slug(name: str) -> str:
    base = "default" if name == "default" else re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip("/"))[-80:]
    return base or "encoder"


def cache_path(cache_folder: str, encoder_name: str, max_length: int, units: str = "report") -> str:
    """``<encoder>__L<n>`` holds whole reports of at most n tokens, ``<encoder>__S<n>`` sentence units."""
    tag = "S" if units == "sentences" else "L"
    return os.path.join(cache_folder, f"{encoder_slug(encoder_name)}__{tag}{int(max_length)}.safetensors")


def save_table(table: TextEncodingTable, path: str) -> None:
    from safetensors.numpy import save

    tensors = {"flat": np.ascontiguousarray(table.flat.astype(np.float16)),
               "lengths": np.ascontiguousarray(table.lengths.astype(np.int64)),
               "pooled": np.ascontiguousarray(table.pooled.astype(np.float32))}
    metadata = {"format": CACHE_FORMAT, "identity": json.dumps(table.identity, sort_keys=True),
                "hashes": json.dumps(list(table.hashes))}
    atomic_write_bytes(save(tensors, metadata=metadata), path)


def _read(path: str):
    from safetensors import safe_open

    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"format tag {meta.get('format')!r}, not {CACHE_FORMAT!r}")
        flat, lengths, pooled = f.get_tensor("flat"), f.get_tensor("lengths"), f.get_tensor("pooled")
    return meta, flat, lengths, pooled, int(lengths.max()) if lengths.size else 0


def load_table(path: str) -> TextEncodingTable:
    """Load and validate a cache file; raises TextCacheError if it is corrupt."""
    try:
        meta, flat, lengths, pooled, max_row = _read(path)
        identity, hashes = json.loads(meta["identity"]), json.loads(meta["hashes"])
    except Exception as e:
        raise TextCacheError(f"corrupt text cache {path}: {type(e).__name__}: {e}") from e
    n = len(hashes)
    if flat.ndim != 2 or lengths.shape != (n,) or pooled.shape != (n, flat.shape[1]) or len(set(hashes)) != n \
            or (lengths < 1).any() or int(lengths.sum()) != flat.shape[0]:
        raise TextCacheError(f"corrupt text cache {path}: inconsistent shapes token states {flat.shape}, "
                             f"lengths {lengths.shape}, pooled {pooled.shape}, {n} hashes")
    if not (np.isfinite(flat).all() and np.isfinite(pooled).all()):
        raise TextCacheError(f"corrupt text cache {path}: non-finite values")
    hidden, length = (identity.get("hidden_size"), identity.get("max_length")) if isinstance(identity, dict) \
        else (None, None)
    if hidden not in (0, flat.shape[1]) or not isinstance(length, int) or max_row > length:
        raise TextCacheError(f"corrupt text cache {path}: token states of size {flat.shape[1]} in rows of up to "
                             f"{max_row} tokens contradict the stored encoder identity (hidden size {hidden}, max "
                             f"length {length})")
    return TextEncodingTable(flat=flat.astype(np.float16), lengths=lengths.astype(np.int64), pooled=pooled,
                             hashes=list(hashes), identity=identity, path=path)


def _append(table: TextEncodingTable | None, new_hashes: list, enc, identity: dict, path: str) -> TextEncodingTable:
    new = TextEncodingTable.from_padded(enc.tokens, enc.mask, enc.pooled, new_hashes, identity, path)
    if table is None:
        return new
    return TextEncodingTable(flat=np.concatenate([table.flat, new.flat]),
                             lengths=np.concatenate([table.lengths, new.lengths]),
                             pooled=np.concatenate([table.pooled, new.pooled]),
                             hashes=table.hashes + list(new_hashes), identity=identity, path=path)


def _select_rows(table: TextEncodingTable, rows: list) -> TextEncodingTable:
    offsets = table.offsets
    flat = np.concatenate([table.flat[offsets[i]:offsets[i + 1]] for i in rows]) if rows \
        else table.flat[:0]
    return TextEncodingTable(flat=flat, lengths=table.lengths[rows], pooled=table.pooled[rows],
                             hashes=[table.hashes[i] for i in rows], identity=table.identity, path=table.path)


def current_rows(table: TextEncodingTable, unique: dict,
                 derived_texts: Callable[[str], Iterable[str]] | None = None) -> list:
    """Rows of ``table`` whose text is a current text (``unique``: hash -> text) or one of the texts
    ``derived_texts(t)`` of a current text t; all other rows are stale."""
    derived = set()
    if derived_texts is not None and any(h not in unique for h in table.hashes):
        derived = {text_hash(d) for t in unique.values() for d in derived_texts(t)}
    return [i for i, h in enumerate(table.hashes) if h in unique or h in derived]


def ensure_text_encodings(reports: dict, cache_folder: str, encoder_name: str | None = None,
                          max_length: int = DEFAULT_MAX_LENGTH, device: str = "cpu", logger=print,
                          progress: bool = True, encoder: FrozenTextEncoder | None = None, units: str = "report",
                          max_sentences: int = DEFAULT_MAX_SENTENCES, max_tokens: int = DEFAULT_MAX_TOKENS,
                          source: str | None = None,
                          derived_texts: Callable[[str], Iterable[str]] | None = None) -> TextEncodingTable:
    """Return the table for ``reports`` (case id -> text), encoding only texts not yet cached.

    ``units = "report"``: one row per unique report, cut at ``max_length`` tokens (``text_units = "report"``).
    ``units = "sentences"``: one row per unique sentence unit of at most ``max_length`` tokens (text/layout.py),
    and ``table.layout`` gives each report's rows; nothing is cut (beyond the report-level cap, with a warning).
    The cache file keeps exactly the encodings of the current reports: rows of texts no longer in
    ``reports`` (a report removed, e.g. a withdrawn consent) are deleted from it, except the rows of
    ``derived_texts(t)`` for each current text t (a report, or a sentence unit), which stay cached
    but are not encoded here: pass ``mirroring.keys.mirrored_texts`` so that a call with the plain
    reports keeps the mirrored versions that text-consistent mirroring cached next to them. Logs the
    encoder, number of cases, unique texts, cache hits, removed rows and the cache path; never text.
    """
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, not {units!r}")
    name = encoder.name if encoder is not None else resolve_encoder_name(encoder_name)
    max_length = encoder.max_length if encoder is not None else check_max_length(max_length)
    path = cache_path(cache_folder, name, max_length, units)
    identity = encoder_identity(name, max_length)
    layout = None
    if units == "sentences":
        from nnunetv2_tmca.text.sentences import splitter_version
        identity = {**identity, "units": units, "splitter": splitter_version()}
        tokenizer = encoder.tokenizer if encoder is not None else load_tokenizer(name)
        layout, unique = report_layouts(reports, tokenizer, max_length, max_sentences, max_tokens, logger, source)
    else:
        unique = {}
        for text in reports.values():
            unique.setdefault(text_hash(text), text)

    table = None
    if os.path.isfile(path):
        try:
            table = load_table(path)
            if table.identity != identity:
                logger(f"Text cache {path} was made with another encoder configuration: rebuilding it.")
                table = None
        except TextCacheError as e:
            logger(f"WARNING: {e}. Rebuilding it.")
            table = None
    removed = 0
    if table is not None:
        keep = current_rows(table, unique, derived_texts)
        removed = len(table.hashes) - len(keep)
        table = _select_rows(table, keep) if removed else table
    known = set(table.hashes) if table is not None else set()
    missing = [h for h in unique if h not in known]
    what = f"{len(layout)} unique reports, {len(unique)} unique sentences" if layout is not None \
        else f"{len(unique)} unique texts"
    logger(f"Text encoder: {name} ({units}, max_length {max_length}); {len(reports)} cases with reports, "
           f"{what}, {len(unique) - len(missing)} cached, {len(missing)} to encode"
           f"{f', {removed} no longer in the reports removed' if removed else ''}; cache: {path}")
    if missing:
        encoder = encoder or FrozenTextEncoder(name, max_length=max_length, device=device)
        enc = encoder.encode([unique[h] for h in missing], progress=progress)
        table = _append(table, missing, enc, identity, path)
    if missing or removed:
        save_table(table, path)
    if table is None:  # sentence units of no report at all (an empty reports dict)
        table = TextEncodingTable(flat=np.zeros((0, 0), np.float16), lengths=np.zeros(0, np.int64),
                                  pooled=np.zeros((0, 0), np.float32), hashes=[], identity=identity)
    table.path = path
    if layout is None:
        return table.bind_cases(reports)
    rows = table.row_of_hash()
    table.layout = {h: [rows[u] for u in unit_hashes] for h, unit_hashes in layout.items()}
    return table


def dataset_cache_folder(dataset_name: str) -> str:
    from nnunetv2.paths import nnUNet_preprocessed
    return os.path.join(str(nnUNet_preprocessed), dataset_name, CACHE_SUBFOLDER)


def encode_dataset_reports(dataset_name_or_id, encoder_name: str | None = None,
                           max_length: int = DEFAULT_MAX_LENGTH, device: str = "cpu", logger=print,
                           progress: bool = True, units: str = "report",
                           derived_texts: Callable[[str], Iterable[str]] | None = None
                           ) -> tuple[dict, TextEncodingTable]:
    """Load and validate ``$nnUNet_raw/DatasetXXX/reports.json`` and make sure its cache is complete
    (``derived_texts``: see :func:`ensure_text_encodings`)."""
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    from nnunetv2_tmca.reports import find_raw_dataset_folder, load_dataset_reports

    dataset_name = maybe_convert_to_dataset_name(dataset_name_or_id)
    folder = find_raw_dataset_folder(dataset_name)
    reports = load_dataset_reports(folder, logger=logger)
    table = ensure_text_encodings(reports, dataset_cache_folder(dataset_name), encoder_name, max_length,
                                  device=device, logger=logger, progress=progress, units=units,
                                  source=os.path.join(folder, "reports.json"), derived_texts=derived_texts)
    return reports, table
