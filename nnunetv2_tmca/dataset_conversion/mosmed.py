"""MosMedData+ (lung CT slices, COVID-19 infection) in the LViT layout -> nnU-Net raw dataset.

Source: ``{Train,Val,Test}_Folder/img/<name>.png``, ``labelcol/mask_<name>.png`` (or
``<name>.png``), ``Train_text.xlsx`` etc. with columns ``Image`` and ``Description``.
train + val -> imagesTr (fold 0 = official train/val), test -> imagesTs. Slices are stored
as 1-channel grey PNG (already windowed by the source), normalized by nnU-Net's z-score
(the channel is deliberately not called "CT": nnU-Net's CT normalization expects Hounsfield
units).

The LViT reports use "left"/"right" like the QaTa ones (written by the same authors), but
whether they mean the image side or the patient side has not been checked on MosMedData+:
dataset.json records ``"laterality": "unverified"`` (report_axes as for any 2D PNG).
"""
from __future__ import annotations

import os
from typing import Optional

from nnunetv2_tmca.dataset_conversion.cases import Problems
from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.dataset_conversion.destination import check_destination
from nnunetv2_tmca.dataset_conversion.lvit import list_lvit
from nnunetv2_tmca.dataset_conversion.raw_dataset import write_dataset

DEFAULT_NAME = "MosMedPlus"
TARGET = "infection"
CHANNEL_NAMES = {"0": "CTslice"}


def convert_mosmed(source: str, dataset_id: int, layout: str = "lvit", name: Optional[str] = None,
                   overwrite: bool = False, max_cases: Optional[int] = None, resize: Optional[int] = None,
                   skip_missing: bool = False, raw_root: Optional[str] = None,
                   preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Convert MosMedData+ (LViT layout); returns the raw dataset folder."""
    source = os.path.abspath(os.fspath(source))
    if layout not in (None, "auto", "lvit"):
        raise ConversionError(f"MosMedData+ is only supported in the 'lvit' layout, not {layout!r}")
    check_destination(dataset_id, name or DEFAULT_NAME, overwrite, raw_root, preprocessed_root)
    problems = Problems()
    cases = list_lvit(source, problems)
    return write_dataset(
        cases, problems=problems, dataset_id=dataset_id, name=name or DEFAULT_NAME, rgb=False, target=TARGET,
        channel_names=CHANNEL_NAMES, source="MosMedData+ (lvit layout)", layout="lvit", overwrite=overwrite,
        resize=resize, max_cases=max_cases, skip_missing=skip_missing, laterality="unverified",
        description="MosMedData+ lung CT slices with COVID-19 infection masks and LViT text reports",
        reference="MosMedData (Morozov et al.); reports: Li et al., LViT, IEEE TMI 2023",
        raw_root=raw_root, preprocessed_root=preprocessed_root, progress=progress)
