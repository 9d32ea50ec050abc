"""Reading source images and masks, resizing them, and saving them as nnU-Net PNGs.

Grey images become (H, W) arrays (16-bit grey stays uint16), colour images (H, W, 3) uint8
RGB; masks become 0/1 uint8. :class:`ImageStats` counts what was converted on the way, for
the summary the writer prints.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from nnunetv2_tmca.dataset_conversion.common import ConversionError

_INTEGER_OR_FLOAT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


class ImageStats:
    """What happened to the images and masks of one conversion (counts and case ids only)."""

    def __init__(self):
        self.converted_mode: Dict[str, int] = {}  # "RGBA->RGB" -> number of images
        self.thresholded = 0  # masks with values other than {0,1} / {0,255}
        self.empty_masks: List[str] = []


def load_image(path: str, rgb: bool, stats: Optional[ImageStats] = None) -> np.ndarray:
    """(H, W) grey or (H, W, 3) uint8 RGB array. Grey 16-bit images stay uint16."""
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if rgb:
            if mode != "RGB":
                im = im.convert("RGB")
        elif mode in _INTEGER_OR_FLOAT_MODES:
            return _grey_values(np.asarray(im), path)
        elif mode != "L":
            im = im.convert("L")
        if stats is not None and mode != im.mode:
            key = f"{mode}->{im.mode}"
            stats.converted_mode[key] = stats.converted_mode.get(key, 0) + 1
        return np.asarray(im).copy()


def _grey_values(arr: np.ndarray, path: str) -> np.ndarray:
    """A 16/32-bit or float grey image as uint8 if its values fit, else uint16."""
    if arr.dtype == np.uint8:
        return arr
    if arr.min() >= 0 and arr.max() <= 255:
        return arr.astype(np.uint8)
    if arr.min() >= 0 and arr.max() <= 65535:
        return arr.astype(np.uint16)
    raise ConversionError(f"{path}: grey image with values outside 0..65535 is not supported")


def load_mask(path: str, stats: Optional[ImageStats] = None) -> np.ndarray:
    """(H, W) uint8 0/1 mask. 0/1 masks are kept; anything else (0/255, JPEG noise) is ``> 127``.

    Colour masks: a pixel is foreground if any colour channel is > 127 (works for white and for
    coloured masks; for grey JPEG masks it equals thresholding the grey value). Palette masks
    whose indices are 0/1 are used as they are.
    """
    with Image.open(path) as im:
        im.load()
        if im.mode == "P":
            idx = np.asarray(im)
            if np.all(np.isin(np.unique(idx), (0, 1))):
                return idx.astype(np.uint8)
            im = im.convert("RGB")
        if im.mode in _INTEGER_OR_FLOAT_MODES + ("L",):
            arr = np.asarray(im)
        elif im.mode in ("RGB", "RGBA", "CMYK", "YCbCr"):
            arr = np.asarray(im.convert("RGB")).max(axis=-1)
        else:
            arr = np.asarray(im.convert("L"))
    values = np.unique(arr)
    if np.all(np.isin(values, (0, 1))):
        return arr.astype(np.uint8)
    if stats is not None and not np.all(np.isin(values, (0, 255))):
        stats.thresholded += 1
    return (arr > 127).astype(np.uint8)


def resize_image(arr: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize to ``size`` x ``size``, keeping the dtype."""
    if arr.shape[:2] == (size, size):
        return arr
    if arr.dtype == np.uint8:
        return np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR))
    out = Image.fromarray(arr.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return np.clip(np.rint(np.asarray(out)), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)


def resize_mask(arr: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize to ``size`` x ``size``."""
    if arr.shape[:2] == (size, size):
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.NEAREST))


def save_png(arr: np.ndarray, path: str) -> None:
    if arr.dtype == np.uint16:
        Image.fromarray(arr.astype(np.uint16)).save(path, compress_level=3)
    else:
        Image.fromarray(arr).save(path, compress_level=3)
