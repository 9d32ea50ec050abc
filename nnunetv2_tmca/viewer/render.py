"""Slices of a case as transparent PNG layers (data URLs) that the page stacks: image, mask, outline, map."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

MASK_RGBA = (230, 40, 40, 150)      # prediction: red fill
OUTLINE_RGBA = (60, 255, 60, 255)   # reference: green outline


def data_url(rgba_or_gray: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba_or_gray).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def display_range(image: np.ndarray) -> tuple:
    """Intensity window of a whole case: the 0.5 and 99.5 percentiles (CT, MR and photographs alike)."""
    lo, hi = np.percentile(image, [0.5, 99.5]) if image.size else (0.0, 1.0)
    return float(lo), float(hi if hi > lo else lo + 1.0)


def gray(slice2d: np.ndarray, window: tuple) -> np.ndarray:
    lo, hi = window
    return (np.clip((slice2d.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def fill(mask2d: np.ndarray, rgba=MASK_RGBA) -> np.ndarray:
    out = np.zeros((*mask2d.shape, 4), np.uint8)
    out[mask2d > 0] = rgba
    return out


def outline(mask2d: np.ndarray, rgba=OUTLINE_RGBA) -> np.ndarray:
    """Foreground pixels with a 4-neighbour outside the foreground."""
    m = mask2d > 0
    padded = np.pad(m, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return fill(m & ~interior, rgba)


def heat(map2d: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """A [0, 1] map in matplotlib's 'jet', transparent where the map is near 0."""
    from matplotlib import colormaps
    m = np.clip(np.nan_to_num(map2d.astype(np.float32)), 0, 1)
    rgba = (colormaps["jet"](m) * 255).astype(np.uint8)
    rgba[..., 3] = (np.clip(m * 2, 0, 1) * alpha * 255).astype(np.uint8)
    return rgba


def slice_layers(image: np.ndarray, window: tuple, k: int, mask=None, reference=None, target_map=None) -> dict:
    """{layer: data URL} of slice k; arrays are (slices, H, W), the first image channel only."""
    layers = {"image": data_url(gray(image[k], window))}
    if mask is not None:
        layers["mask"] = data_url(fill(mask[k]))
    if reference is not None:
        layers["reference"] = data_url(outline(reference[k]))
    if target_map is not None:
        layers["map"] = data_url(heat(target_map[k]))
    return layers
