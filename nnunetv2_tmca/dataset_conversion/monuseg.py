"""MoNuSeg (H&E nuclei) in the LViT layout -> nnU-Net raw dataset.

Source: ``{Train,Val,Test}_Folder/img/<name>.png|.tif`` (RGB), ``labelcol/<name>.png`` (0/255,
same stem as the image, no ``mask_`` prefix), ``Train_text.xlsx`` etc. (columns ``Image``,
``Description``; the xlsx may say ``.png`` for a ``.tif`` image: matched by stem).
Images are written as ONE 3-channel RGB PNG per case (``<case>_0000.png``, channel_names
R/G/B), the way nnU-Net's NaturalImage2DIO reads colour PNGs. The reports (nuclei density)
carry no laterality; report_axes are recorded as for any 2D PNG.
"""
from __future__ import annotations

from nnunetv2_tmca.dataset_conversion.lvit import LVitDataset, convert_lvit

MONUSEG = LVitDataset(
    title="MoNuSeg", default_name="MoNuSeg", target="nucleus",
    channel_names={"0": "R", "1": "G", "2": "B"}, rgb=True, laterality="none",
    description="MoNuSeg H&E nuclei segmentation with LViT text descriptions",
    reference="MoNuSeg, MICCAI 2018 challenge; texts: Li et al., LViT, IEEE TMI 2023")


def convert_monuseg(source: str, dataset_id: int, **options) -> str:
    """Convert MoNuSeg (LViT layout); returns the raw dataset folder.

    Options as for :func:`~nnunetv2_tmca.dataset_conversion.lvit.convert_lvit`.
    """
    return convert_lvit(MONUSEG, source, dataset_id, **options)
