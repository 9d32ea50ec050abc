"""Cache of frozen-encoder token states, one row per *unique* report text.

File: ``$nnUNet_preprocessed/DatasetXXX/tmca_text_cache/<encoder>__L<max_length>.safetensors``
(never inside the plans' data folder, whose dataset class expects case files only).
Tensors ``tokens`` (N, L, D) float16, ``mask`` (N, L) uint8, ``pooled`` (N, D) float32; the
header metadata holds the format tag, the encoder identity and the sha256 of each text in
row order. safetensors never unpickles. A cache whose identity differs is stale, one that
cannot be parsed or is inconsistent (also: token states whose size contradicts the stored
identity) is corrupt: both are rebuilt with a warning. Texts that are new since the last run
are encoded and appended (incremental); rows of texts no longer in the reports are removed, so
the file holds exactly the current reports' encodings. Writes are atomic.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

from nnunetv2_tmca.io_utils import atomic_write_bytes
from nnunetv2_tmca.reports import text_hash
from nnunetv2_tmca.text.encoder import (DEFAULT_MAX_LENGTH, FrozenTextEncoder, check_max_length, encoder_identity,
                                        resolve_encoder_name)

CACHE_FORMAT = "nnunetv2_tmca.text_cache.v1"
CACHE_SUBFOLDER = "tmca_text_cache"


class TextCacheError(RuntimeError):
    """A cache file exists but cannot be used."""


@dataclass
class TextEncodingTable:
    """Unique-text encodings plus the case -> row lookup used by trainer and predictor."""

    tokens: np.ndarray  # (N, L, D) float16
    mask: np.ndarray  # (N, L) bool
    pooled: np.ndarray  # (N, D) float32
    hashes: list  # sha256 of each row's text
    identity: dict
    path: str | None = None
    case_to_row: dict | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.tokens.shape[-1])

    def row_of_hash(self) -> dict:
        return {h: i for i, h in enumerate(self.hashes)}

    def bind_cases(self, reports: dict) -> "TextEncodingTable":
        """Map every case id of ``reports`` to its row; all texts must be in the table."""
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


def cache_path(cache_folder: str, encoder_name: str, max_length: int) -> str:
    return os.path.join(cache_folder, f"{encoder_slug(encoder_name)}__L{int(max_length)}.safetensors")


def save_table(table: TextEncodingTable, path: str) -> None:
    from safetensors.numpy import save

    tensors = {"tokens": np.ascontiguousarray(table.tokens.astype(np.float16)),
               "mask": np.ascontiguousarray(table.mask.astype(np.uint8)),
               "pooled": np.ascontiguousarray(table.pooled.astype(np.float32))}
    metadata = {"format": CACHE_FORMAT, "identity": json.dumps(table.identity, sort_keys=True),
                "hashes": json.dumps(list(table.hashes))}
    atomic_write_bytes(save(tensors, metadata=metadata), path)


def load_table(path: str) -> TextEncodingTable:
    """Load and validate a cache file; raises TextCacheError if it is corrupt."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="np") as f:
            meta = f.metadata() or {}
            tokens, mask, pooled = f.get_tensor("tokens"), f.get_tensor("mask"), f.get_tensor("pooled")
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"unknown format tag {meta.get('format')!r}")
        identity, hashes = json.loads(meta["identity"]), json.loads(meta["hashes"])
    except Exception as e:
        raise TextCacheError(f"corrupt text cache {path}: {type(e).__name__}: {e}") from e
    n = len(hashes)
    if tokens.ndim != 3 or mask.shape != tokens.shape[:2] or pooled.shape != (n, tokens.shape[2]) \
            or tokens.shape[0] != n or len(set(hashes)) != n:
        raise TextCacheError(f"corrupt text cache {path}: inconsistent shapes tokens {tokens.shape}, "
                             f"mask {mask.shape}, pooled {pooled.shape}, {n} hashes")
    if not (np.isfinite(tokens).all() and np.isfinite(pooled).all()):
        raise TextCacheError(f"corrupt text cache {path}: non-finite values")
    hidden, length = (identity.get("hidden_size"), identity.get("max_length")) if isinstance(identity, dict) \
        else (None, None)
    if hidden not in (0, tokens.shape[2]) or not isinstance(length, int) or tokens.shape[1] > length:
        raise TextCacheError(f"corrupt text cache {path}: token states of shape {tokens.shape} contradict the "
                             f"stored encoder identity (hidden size {hidden}, max length {length})")
    return TextEncodingTable(tokens=tokens, mask=mask.astype(bool), pooled=pooled, hashes=list(hashes),
                             identity=identity, path=path)


def _append(table: TextEncodingTable | None, new_hashes: list, enc, identity: dict, path: str) -> TextEncodingTable:
    if table is None:
        return TextEncodingTable(tokens=enc.tokens.astype(np.float16), mask=enc.mask, pooled=enc.pooled,
                                 hashes=list(new_hashes), identity=identity, path=path)
    length = max(table.tokens.shape[1], enc.tokens.shape[1])

    def pad(a, fill=0):
        widths = [(0, 0), (0, length - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, widths, constant_values=fill)

    return TextEncodingTable(tokens=np.concatenate([pad(table.tokens), pad(enc.tokens.astype(np.float16))]),
                             mask=np.concatenate([pad(table.mask, False), pad(enc.mask, False)]),
                             pooled=np.concatenate([table.pooled, enc.pooled]),
                             hashes=table.hashes + list(new_hashes), identity=identity, path=path)


def _select_rows(table: TextEncodingTable, rows: list) -> TextEncodingTable:
    length = max(1, int(table.mask[rows].sum(1).max())) if rows else 1
    return TextEncodingTable(tokens=table.tokens[rows, :length], mask=table.mask[rows, :length],
                             pooled=table.pooled[rows], hashes=[table.hashes[i] for i in rows],
                             identity=table.identity, path=table.path)


def current_rows(table: TextEncodingTable, unique: dict) -> list:
    """Rows of ``table`` whose text is a current report or a mirrored version of one (the trainer's
    text-consistent mirroring caches those next to the originals); all other rows are stale."""
    candidates = [h for h in table.hashes if h not in unique]
    derived = set()
    if candidates:
        from nnunetv2_tmca.mirroring.axes import nonempty_subsets
        from nnunetv2_tmca.mirroring.words import WORD_PAIRS, mirror_report
        derived = {text_hash(mirror_report(t, subset)) for t in unique.values()
                   for subset in nonempty_subsets(sorted(WORD_PAIRS))}
    return [i for i, h in enumerate(table.hashes) if h in unique or h in derived]


def ensure_text_encodings(reports: dict, cache_folder: str, encoder_name: str | None = None,
                          max_length: int = DEFAULT_MAX_LENGTH, device: str = "cpu", logger=print,
                          progress: bool = True, encoder: FrozenTextEncoder | None = None) -> TextEncodingTable:
    """Return the table for ``reports`` (case id -> text), encoding only texts not yet cached.

    The cache file keeps exactly the encodings of the current reports (and of their mirrored
    versions): rows of texts no longer in ``reports`` (a report removed, e.g. a withdrawn consent)
    are deleted from it. Logs the encoder, number of cases, unique texts, cache hits, removed rows
    and the cache path; never text.
    """
    name = encoder.name if encoder is not None else resolve_encoder_name(encoder_name)
    max_length = encoder.max_length if encoder is not None else check_max_length(max_length)
    path = cache_path(cache_folder, name, max_length)
    identity = encoder_identity(name, max_length)
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
        keep = current_rows(table, unique)
        removed = len(table.hashes) - len(keep)
        table = _select_rows(table, keep) if removed else table
    known = set(table.hashes) if table is not None else set()
    missing = [h for h in unique if h not in known]
    logger(f"Text encoder: {name} (max_length {max_length}); {len(reports)} cases with reports, "
           f"{len(unique)} unique texts, {len(unique) - len(missing)} cached, {len(missing)} to encode"
           f"{f', {removed} no longer in the reports removed' if removed else ''}; cache: {path}")
    if missing:
        encoder = encoder or FrozenTextEncoder(name, max_length=max_length, device=device)
        enc = encoder.encode([unique[h] for h in missing], progress=progress)
        table = _append(table, missing, enc, identity, path)
    if missing or removed:
        save_table(table, path)
    table.path = path
    return table.bind_cases(reports)


def dataset_cache_folder(dataset_name: str) -> str:
    from nnunetv2.paths import nnUNet_preprocessed
    return os.path.join(str(nnUNet_preprocessed), dataset_name, CACHE_SUBFOLDER)


def encode_dataset_reports(dataset_name_or_id, encoder_name: str | None = None,
                           max_length: int = DEFAULT_MAX_LENGTH, device: str = "cpu", logger=print,
                           progress: bool = True) -> tuple[dict, TextEncodingTable]:
    """Load and validate ``$nnUNet_raw/DatasetXXX/reports.json`` and make sure its cache is complete."""
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    from nnunetv2_tmca.reports import find_raw_dataset_folder, load_dataset_reports

    dataset_name = maybe_convert_to_dataset_name(dataset_name_or_id)
    reports = load_dataset_reports(find_raw_dataset_folder(dataset_name), logger=logger)
    table = ensure_text_encodings(reports, dataset_cache_folder(dataset_name), encoder_name, max_length,
                                  device=device, logger=logger, progress=progress)
    return reports, table
