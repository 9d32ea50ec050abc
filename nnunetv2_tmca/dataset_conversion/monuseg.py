"""MoNuSeg (H&E nuclei) in the LViT layout -> nnU-Net raw dataset.

Source: ``{Train,Val,Test}_Folder/img/<name>.png|.tif`` (RGB), ``labelcol/<name>.png`` (0/255,
same stem as the image, no ``mask_`` prefix), ``Train_text.xlsx`` etc. (columns ``Image``,
``Description``; the xlsx may say ``.png`` for a ``.tif`` image: matched by stem).
Images are written as ONE 3-channel RGB PNG per case (``<case>_0000.png``, channel_names
R/G/B), the way nnU-Net's NaturalImage2DIO reads colour PNGs. The reports (nuclei density)
carry no laterality; report_axes are recorded as for any 2D PNG.
"""
from __future__ import annotations

import os
from typing import Optional

from nnunetv2_tmca.dataset_conversion.cases import Problems
from nnunetv2_tmca.dataset_conversion.common import ConversionError
from nnunetv2_tmca.dataset_conversion.destination import check_destination
from nnunetv2_tmca.dataset_conversion.lvit import list_lvit
from nnunetv2_tmca.dataset_conversion.raw_dataset import write_dataset

DEFAULT_NAME = "MoNuSeg"
TARGET = "nucleus"
CHANNEL_NAMES = {"0": "R", "1": "G", "2": "B"}


def convert_monuseg(source: str, dataset_id: int, layout: str = "lvit", name: Optional[str] = None,
                    overwrite: bool = False, max_cases: Optional[int] = None, resize: Optional[int] = None,
                    skip_missing: bool = False, raw_root: Optional[str] = None,
                    preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Convert MoNuSeg (LViT layout); returns the raw dataset folder."""
    source = os.path.abspath(os.fspath(source))
    if layout not in (None, "auto", "lvit"):
        raise ConversionError(f"MoNuSeg is only supported in the 'lvit' layout, not {layout!r}")
    check_destination(dataset_id, name or DEFAULT_NAME, overwrite, raw_root, preprocessed_root)
    problems = Problems()
    cases = list_lvit(source, problems)
    return write_dataset(
        cases, problems=problems, dataset_id=dataset_id, name=name or DEFAULT_NAME, rgb=True, target=TARGET,
        channel_names=CHANNEL_NAMES, source="MoNuSeg (lvit layout)", layout="lvit", overwrite=overwrite,
        resize=resize, max_cases=max_cases, skip_missing=skip_missing, laterality="none",
        description="MoNuSeg H&E nuclei segmentation with LViT text descriptions",
        reference="MoNuSeg, MICCAI 2018 challenge; texts: Li et al., LViT, IEEE TMI 2023",
        raw_root=raw_root, preprocessed_root=preprocessed_root, progress=progress)
