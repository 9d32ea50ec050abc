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

from nnunetv2_tmca.dataset_conversion.lvit import LVitDataset, convert_lvit

MOSMED = LVitDataset(
    title="MosMedData+", default_name="MosMedPlus", target="infection", channel_names={"0": "CTslice"},
    rgb=False, laterality="unverified",
    description="MosMedData+ lung CT slices with COVID-19 infection masks and LViT text reports",
    reference="MosMedData (Morozov et al.); reports: Li et al., LViT, IEEE TMI 2023")


def convert_mosmed(source: str, dataset_id: int, **options) -> str:
    """Convert MosMedData+ (LViT layout); returns the raw dataset folder.

    ``options``: ``layout`` ("lvit"), ``name``, ``overwrite``, ``max_cases``, ``resize``,
    ``skip_missing``, ``raw_root``, ``preprocessed_root``, ``progress`` (see :func:`convert_lvit`).
    """
    return convert_lvit(MOSMED, source, dataset_id, **options)
