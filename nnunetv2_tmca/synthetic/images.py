"""Images of the synthetic dataset: a textured background with look-alike lesions, one per grid cell.

:func:`sample_case` draws one case: 4-5 (``num_lesions``) lesions in distinct cells, a random
1-3 of them (or the given ``target_cells``) the target (the mask), and the report naming the targets
(:mod:`.reports`). Targets and distractors come from one intensity / size
distribution, so only the report tells them apart. 2D arrays are (H, W), 3D ones (Z, Y, X);
side runs along the last axis, zone along the first.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from nnunetv2_tmca.synthetic.reports import CELLS, SIDES, ZONES, as_rng, render_report_and_typo


def as_shape(size: Union[int, Sequence[int]], dim: int) -> Tuple[int, ...]:
    """Image shape from an edge length or a shape; ValueError if invalid or too small for the grid."""
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    if isinstance(size, (int, np.integer)):
        shape = (int(size),) * dim
    else:
        shape = tuple(int(i) for i in size)
        if len(shape) != dim:
            raise ValueError(f"size {size} does not match dim={dim}")
    min_size = 24 if dim == 2 else 18
    if min(shape) < min_size:
        raise ValueError(f"size {shape} too small (every axis must be >= {min_size})")
    return shape


def _cell_bounds(shape: Tuple[int, ...], side: str, zone: str) -> List[Tuple[float, float]]:
    """[lo, hi) bounds of the cell per axis (continuous coordinates)."""
    zi, si = ZONES.index(zone), SIDES.index(side)
    n_up, n_lr = shape[0], shape[-1]
    bounds = [(zi * n_up / 3.0, (zi + 1) * n_up / 3.0)]
    if len(shape) == 3:
        bounds.append((0.0, float(shape[1])))
    bounds.append((si * n_lr / 2.0, (si + 1) * n_lr / 2.0))
    return bounds


def cell_of_point(point: Sequence[float], shape: Sequence[int]) -> Tuple[str, str]:
    """(side, zone) of a point given in array coordinates."""
    zone = ZONES[min(2, int(point[0] * 3 // shape[0]))]
    side = SIDES[min(1, int(point[-1] * 2 // shape[-1]))]
    return side, zone


def _radius_range(shape: Tuple[int, ...], dim: int) -> Tuple[float, float]:
    cell_min = min(shape[0] / 3.0, shape[-1] / 2.0)
    # 2D 64x64: cell_min 21.3 -> radius 3-6 px; 3D 32^3: cell_min 10.7 -> radius ~1.9-3.2 vox
    lo, hi = (0.14, 0.28) if dim == 2 else (0.18, 0.30)
    return max(1.5, lo * cell_min), max(1.8, hi * cell_min)


def _grid(shape):
    return np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")


def _background(rng: np.random.Generator, shape, grid) -> np.ndarray:
    dim = len(shape)
    norm = [g / n for g, n in zip(grid, shape)]
    tex = np.zeros(shape, dtype=np.float32)
    for _ in range(6):
        direction = rng.normal(size=dim)
        direction /= np.linalg.norm(direction) + 1e-8
        freq = direction * rng.uniform(0.5, 3.0)
        phase = rng.uniform(0, 2 * np.pi)
        arg = sum(f * c for f, c in zip(freq, norm))
        tex += rng.uniform(0.5, 1.0) * np.cos(2 * np.pi * arg + phase).astype(np.float32)
    tex /= tex.std() + 1e-6
    # faint body outline: a soft super-ellipse(-oid)
    center = [n / 2.0 + rng.uniform(-1, 1) for n in shape]
    semi = [n * rng.uniform(0.44, 0.49) for n in shape]
    r = sum((np.abs(g - c) / a) ** 4 for g, c, a in zip(grid, center, semi)) ** 0.25
    body = 1.0 / (1.0 + np.exp(-(1.0 - r) * 20.0))
    img = rng.uniform(15, 25) + body * rng.uniform(25, 40) + tex * rng.uniform(4, 8)
    return img.astype(np.float32)


def _given_targets(rng: np.random.Generator, target_cells, lo_n: int, hi_n: int, empty: bool):
    """(cells, target indices): the given target cells + look-alike distractors in other random cells."""
    targets = [(str(s), str(z)) for s, z in target_cells]
    if empty or not targets or len(set(targets)) != len(targets) or len(targets) >= len(CELLS) \
            or any(t not in CELLS for t in targets):
        raise ValueError(f"target_cells must be 1-{len(CELLS) - 1} distinct (side, zone) cells with side in "
                         f"{SIDES} and zone in {ZONES}, and empty=False; got {target_cells}")
    n = max(int(rng.integers(lo_n, hi_n + 1)), len(targets) + 1)
    others = [c for c in CELLS if c not in targets]
    extra = [others[i] for i in rng.choice(len(others), size=n - len(targets), replace=False)]
    cells = [c for c in CELLS if c in targets or c in extra]
    return cells, {cells.index(t) for t in targets}


def sample_case(rng, size: Union[int, Sequence[int]] = 64, dim: int = 2,
                num_lesions: Tuple[int, int] = (4, 5), num_targets: Tuple[int, int] = (1, 3),
                empty: bool = False, typo_rate: float = 0.05,
                target_cells: Optional[Sequence[Tuple[str, str]]] = None):
    """One synthetic case.

    Returns (image uint8, mask uint8 in {0, 1}, report str, meta dict). Arrays have
    shape (H, W) for dim=2 and (Z, Y, X) for dim=3. With empty=True the image still
    holds its lesions, but none is a target: empty mask and a "no lesion" report.
    target_cells: the IMAGE cells (side, zone) of the target lesions, instead of a random 1-3
    (``num_targets`` is then not used); the other lesions go into other random cells, in all
    ``num_lesions`` but at least one more than the targets. None (default): the draws of before.
    meta: {"shape", "dim", "empty", "typo", "targets": [[side, zone], ...],
    "lesions": [{"side", "zone", "center", "radii", "peak", "target"}, ...]}.
    """
    rng = as_rng(rng)
    shape = as_shape(size, dim)
    lo_n, hi_n = int(num_lesions[0]), int(num_lesions[1])
    if not 1 <= lo_n <= hi_n <= len(CELLS):
        raise ValueError(f"num_lesions must satisfy 1 <= min <= max <= {len(CELLS)}, got {num_lesions}")
    lo_t, hi_t = int(num_targets[0]), int(num_targets[1])
    if not 1 <= lo_t <= hi_t:
        raise ValueError(f"num_targets must satisfy 1 <= min <= max, got {num_targets}")

    if target_cells is not None:
        cells, target_idx = _given_targets(rng, target_cells, lo_n, hi_n, empty)
    else:
        n = int(rng.integers(lo_n, hi_n + 1))
        cells = [CELLS[i] for i in sorted(rng.choice(len(CELLS), size=n, replace=False))]
        if empty:
            k = 0
        else:
            k = int(rng.integers(min(lo_t, n), min(hi_t, n) + 1))
        target_idx = set(int(i) for i in rng.choice(n, size=k, replace=False)) if k else set()

    grid = _grid(shape)
    img = _background(rng, shape, grid)
    mask = np.zeros(shape, dtype=np.uint8)
    r_lo, r_hi = _radius_range(shape, dim)
    margin = max(1.0, 0.08 * min(shape[0] / 3.0, shape[-1] / 2.0))
    lesions = []
    for li, (side, zone) in enumerate(cells):
        bounds = _cell_bounds(shape, side, zone)
        r_base = rng.uniform(r_lo, r_hi)
        radii, center = [], []
        for lo, hi in bounds:
            # keep the blob (+ margin) strictly inside the cell: center +- (r + margin) within [lo, hi - 1]
            r_fit = (hi - 1 - lo) / 2.0 - margin
            r = float(min(r_base * rng.uniform(0.9, 1.1), r_fit))
            if r < 1.0:
                raise ValueError(f"size {shape} too small for the lesion grid")
            radii.append(r)
            center.append(float(rng.uniform(lo + r + margin, hi - 1 - r - margin)))
        dn = np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii)))
        inside = dn <= 1.0
        peak = float(rng.uniform(165, 200))
        value = peak * (1.0 - 0.2 * dn ** 2)
        w = np.clip((1.0 - dn) * float(np.mean(radii)) + 0.5, 0.0, 1.0)
        img = img * (1.0 - w) + value * w
        is_target = li in target_idx
        if is_target:
            mask[inside] = 1
        lesions.append({"side": side, "zone": zone, "center": [round(c, 4) for c in center],
                        "radii": [round(r, 4) for r in radii], "peak": round(peak, 3), "target": is_target})
    img = img + rng.normal(0.0, rng.uniform(3.0, 6.0), size=shape)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)

    targets = [(lesion["side"], lesion["zone"]) for lesion in lesions if lesion["target"]]
    report, typo = render_report_and_typo(targets, rng, typo_rate)
    meta = {"shape": list(shape), "dim": dim, "empty": bool(empty), "typo": typo,
            "targets": [list(t) for t in targets], "lesions": lesions}
    return image, mask, report, meta
