"""What every dataset converter shares: the error type, the split names and console messages.

Reports are patient data: nothing in this package prints or logs report text; messages carry
case ids, file names and counts only (:func:`ids_text` shortens long id lists).
"""
from __future__ import annotations

import sys
from typing import Iterable

from nnunetv2_tmca.errors import TMCAUserError
from nnunetv2_tmca.reports import format_ids

SPLITS = ("train", "val", "test")
MAX_IDS_SHOWN = 20


class ConversionError(TMCAUserError, RuntimeError):
    """A conversion problem; the message names folders, files and case ids, never report text."""


def info(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


def ids_text(ids: Iterable[str]) -> str:
    """``"3 case ids: 'a', 'b', 'c'"``, at most :data:`MAX_IDS_SHOWN` ids shown."""
    return format_ids(ids, limit=MAX_IDS_SHOWN)
