"""Synthetic dataset in which the REPORT decides the segmentation target.

Every image holds 4-5 (``num_lesions``) look-alike bright lesions, each in its own cell of a grid:
side (left / right half of the image) x zone (upper / middle / lower third).
A random subset of 1-3 of them is the target; the mask holds only the target
lesions, and the report names them by side, zone and count, e.g.
``"Two lesions, upper left and lower right."``.  Target and distractor lesions
come from the same intensity / size distribution, so an image-only network can
not tell them apart (the best it can do is to segment every lesion, Dice ~0.5),
while a network that reads the report can reach Dice > 0.85.

Conventions
-----------
* "left" is the IMAGE's left, i.e. the small column index (QaTa-COV19 style).
* "upper" is the small row index (2D) / the small index along numpy axis 0
  (3D, z).
* 2D: grey uint8 PNGs (nnU-Net ``NaturalImage2DIO``), arrays (H, W).
  3D: ``.nii.gz`` volumes (SimpleITK, spacing 1, 1, 1), numpy arrays (Z, Y, X);
  side along X (last axis), zone along Z (first axis), Y is free.
* ``dataset.json["tmca"]["report_axes"]`` documents which axis the words refer to.

Case ids: ``synth_0000``... (imagesTr/labelsTr), ``synthts_0000``...
(imagesTs/labelsTs). ``reports.json`` (next to dataset.json) holds the reports of
all training and test cases.

Generation is deterministic given ``seed``: case ``i`` of a split uses the random
stream ``default_rng([seed, split, i])``, so it does not depend on how many
cases the other split has.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from nnunetv2_tmca.reports import REPORTS_FILENAME, atomic_write_json

SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")
CELLS = tuple((s, z) for z in ZONES for s in SIDES)  # 6 cells

TRAIN_PREFIX = "synth_"
TEST_PREFIX = "synthts_"

# ----------------------------------------------------------------------------- vocabulary
NOUNS = {  # singular, plural
    "lesion": ("lesion", "lesions"),
    "opacity": ("opacity", "opacities"),
    "nodule": ("nodule", "nodules"),
    "focus": ("focus", "foci"),
}
ADJECTIVES = ("", "", "", "small ", "round ", "well-defined ", "bright ")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
SINGLE_WORDS = ("single", "a single", "solitary", "a solitary", "one", "1")
AREA_WORDS = (("zone", "zones"), ("region", "regions"))

# Templates for reports with >= 1 target. Fields:
#   C   count phrase ("two", "2", "a single", ...)      N  noun phrase (number-agreed, maybe adjective)
#   NB  bare noun (number-agreed)                        NUM plain count ("two" / "2")
#   J   joined zone phrases ("upper left and lower right")
#   Z   "zone"/"zones"/"region"/"regions"                BE "is"/"are"
#   LAT "bilateral" / "left-sided" / "right-sided"
TEMPLATES = (
    "{C} {N}, {J}.",
    "{C} {N} in the {J} {Z}.",
    "{LAT} findings: {C} {N}, {J}.",
    "{NB} in the {J} {Z}; {NUM} in total.",
    "There {BE} {C} {N}: {J}.",
    "{J}: {C} {N}.",
    "Findings include {C} {N} located in the {J} {Z}.",
    "{C} {N} noted ({J}).",
    "Impression: {C} {N} involving the {J} {Z}.",
)

EMPTY_TEMPLATES = (
    "No lesion.",
    "No focal lesion identified.",
    "No nodules seen.",
    "No opacity detected.",
    "No suspicious focus.",
    "Unremarkable study: no lesions.",
    "No evidence of any nodule or opacity.",
)

# Typos: (pattern, replacement). One of the matches in a report is replaced.
# Merged words ("lowerleft", "rightupper") are added on top of these.
TYPO_RULES = (
    (r"\bright\b", "rigth"),
    (r"\bleft\b", "lfet"),
    (r"\bupper\b", "uper"),
    (r"\blower\b", "lowwer"),
    (r"\bmiddle\b", "midle"),
    (r"lesion", "lesoin"),
    (r"nodule", "nodlue"),
    (r"\bopacity\b", "opacty"),
    (r"\bopacities\b", "opacites"),
    (r"\bfocus\b", "fcous"),
)
# typo word -> correct word (handy for parsers of these reports)
TYPO_WORDS = {"rigth": "right", "lfet": "left", "uper": "upper", "lowwer": "lower", "midle": "middle",
              "lesoin": "lesion", "nodlue": "nodule", "opacty": "opacity", "opacites": "opacities",
              "fcous": "focus"}
_MERGE_RE = re.compile(r"\b(upper|middle|lower|left|right) (left|right|upper|middle|lower)\b", re.IGNORECASE)


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _choice(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _join(items: List[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _is_merge_pair(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return (a in SIDES and b in ZONES) or (a in ZONES and b in SIDES)


def _apply_typo(text: str, rng: np.random.Generator) -> Tuple[str, bool]:
    """Replaces one randomly chosen typo-able span; returns (text, applied)."""
    candidates = []  # (start, end, replacement)
    for pattern, repl in TYPO_RULES:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            r = _cap(repl) if m.group(0)[:1].isupper() else repl
            candidates.append((m.start(), m.end(), r))
    for m in _MERGE_RE.finditer(text):
        if _is_merge_pair(m.group(1), m.group(2)):
            candidates.append((m.start(), m.end(), m.group(1) + m.group(2)))
    if not candidates:
        return text, False
    start, end, repl = candidates[int(rng.integers(len(candidates)))]
    return text[:start] + repl + text[end:], True


def _render(targets: Sequence[Tuple[str, str]], rng: np.random.Generator, typo_rate: float) -> Tuple[str, bool]:
    targets = [(str(s).lower(), str(z).lower()) for s, z in targets]
    for s, z in targets:
        if s not in SIDES or z not in ZONES:
            raise ValueError(f"invalid target {(s, z)}; side must be in {SIDES}, zone in {ZONES}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"targets must be distinct cells, got {targets}")
    k = len(targets)
    if k == 0:
        text = _choice(rng, EMPTY_TEMPLATES)
    else:
        template = _choice(rng, TEMPLATES)
        side_first = bool(rng.random() < 0.35)  # "left upper" vs "upper left"
        order = rng.permutation(k)
        zone_phrases = [(f"{targets[i][0]} {targets[i][1]}" if side_first else f"{targets[i][1]} {targets[i][0]}")
                        for i in order]
        sing, plur = NOUNS[_choice(rng, tuple(NOUNS))]
        noun = sing if k == 1 else plur
        adjective = _choice(rng, ADJECTIVES)
        use_digit = bool(rng.random() < 0.3)
        num = str(k) if use_digit else NUMBER_WORDS.get(k, str(k))
        count = _choice(rng, SINGLE_WORDS) if k == 1 else num
        if count in ("single", "solitary") and not template.startswith("{C}"):
            count = "a " + count  # "There is a single lesion", but "Single lesion in ..."
        area_s, area_p = _choice(rng, AREA_WORDS)
        sides = {s for s, _ in targets}
        lat = "bilateral" if len(sides) == 2 else f"{next(iter(sides))}-sided"
        text = template.format(C=count, N=adjective + noun, NB=noun, NUM=num, J=_join(zone_phrases),
                               Z=area_s if k == 1 else area_p, BE="is" if k == 1 else "are", LAT=lat)
        text = _cap(text)
    typo = False
    if typo_rate > 0 and rng.random() < typo_rate:
        text, typo = _apply_typo(text, rng)
    return text, typo


def render_report(targets: Sequence[Tuple[str, str]], rng, typo_rate: float = 0.05) -> str:
    """Report text naming the target cells.

    targets: sequence of (side, zone) with side in ("left", "right") and zone in
    ("upper", "middle", "lower"); empty -> a "no lesion" style report.
    rng: numpy Generator (or a seed). typo_rate: probability that the report gets one typo.
    """
    return _render(targets, _as_rng(rng), typo_rate)[0]


# ----------------------------------------------------------------------------- images
def _as_shape(size: Union[int, Sequence[int]], dim: int) -> Tuple[int, ...]:
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


def sample_case(rng, size: Union[int, Sequence[int]] = 64, dim: int = 2,
                num_lesions: Tuple[int, int] = (4, 5), num_targets: Tuple[int, int] = (1, 3),
                empty: bool = False, typo_rate: float = 0.05):
    """One synthetic case.

    Returns (image uint8, mask uint8 in {0, 1}, report str, meta dict). Arrays have
    shape (H, W) for dim=2 and (Z, Y, X) for dim=3. With empty=True the image still
    holds its lesions, but none is a target: empty mask and a "no lesion" report.
    meta: {"shape", "dim", "empty", "typo", "targets": [[side, zone], ...],
    "lesions": [{"side", "zone", "center", "radii", "peak", "target"}, ...]}.
    """
    rng = _as_rng(rng)
    shape = _as_shape(size, dim)
    lo_n, hi_n = int(num_lesions[0]), int(num_lesions[1])
    if not 1 <= lo_n <= hi_n <= len(CELLS):
        raise ValueError(f"num_lesions must satisfy 1 <= min <= max <= {len(CELLS)}, got {num_lesions}")
    lo_t, hi_t = int(num_targets[0]), int(num_targets[1])
    if not 1 <= lo_t <= hi_t:
        raise ValueError(f"num_targets must satisfy 1 <= min <= max, got {num_targets}")

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

    targets = [(l["side"], l["zone"]) for l in lesions if l["target"]]
    report, typo = _render(targets, rng, typo_rate)
    meta = {"shape": list(shape), "dim": dim, "empty": bool(empty), "typo": typo,
            "targets": [list(t) for t in targets], "lesions": lesions}
    return image, mask, report, meta


# ----------------------------------------------------------------------------- writing
def _write_case(image: np.ndarray, mask: np.ndarray, image_file: str, label_file: str, dim: int) -> None:
    if dim == 2:
        from PIL import Image
        Image.fromarray(image).save(image_file)
        Image.fromarray(mask).save(label_file)
    else:
        import SimpleITK as sitk
        for arr, fname in ((image, image_file), (mask, label_file)):
            itk = sitk.GetImageFromArray(arr)
            itk.SetSpacing((1.0, 1.0, 1.0))
            sitk.WriteImage(itk, fname, True)


def _tmca_info(dim: int) -> dict:
    if dim == 2:
        axes = {"left_right": 1, "upper_lower": 0}
        desc = ("Report words refer to image axes. 2D PNG: nnU-Net loads (C, 1, H, W); the axes given are those of "
                "the 2D patch (H, W): upper_lower = H (row; 'upper' = small row index), left_right = W (column; "
                "'left' = the image's left = small column index). Zones: upper/middle/lower = row thirds, "
                "left/right = column halves.")
    else:
        axes = {"left_right": 2, "upper_lower": 0}
        desc = ("Report words refer to image axes. 3D NIfTI: nnU-Net loads (C, Z, Y, X); spatial axes given: "
                "upper_lower = 0 (Z; 'upper' = small index), left_right = 2 (X; 'left' = small index). "
                "Zones: upper/middle/lower = thirds along Z, left/right = halves along X; Y is not named.")
    return {"report_axes": axes,
            "description": "Synthetic language-guided dataset (nnunetv2_tmca): several look-alike lesions, the "
                           "report names which are the target. " + desc}


def make_synthetic_dataset(raw_root: str, dataset_id: int = 990, name: str = "TMCASynthetic",
                           num_train: int = 40, num_test: int = 10, size: int = 64, dim: int = 2,
                           num_lesions: tuple = (4, 5), num_targets: tuple = (1, 3),
                           empty_fraction: float = 0.0, typo_rate: float = 0.05, seed: int = 0,
                           overwrite: bool = False) -> str:
    """Writes raw_root/Dataset{id:03d}_{name}/ (images/labels Tr+Ts, dataset.json, reports.json).

    Returns the dataset folder. Raises FileExistsError if the folder exists and
    overwrite is False, or if another folder with the same dataset id exists.
    """
    dataset_id = int(dataset_id)
    if not 0 < dataset_id < 1000:
        raise ValueError(f"dataset_id must be in 1..999, got {dataset_id}")
    if not name or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"invalid dataset name {name!r} (letters, digits, '_' and '-' only)")
    if num_train < 1 or num_test < 0:
        raise ValueError("num_train must be >= 1 and num_test >= 0")
    if not 0.0 <= empty_fraction <= 1.0 or not 0.0 <= typo_rate <= 1.0:
        raise ValueError("empty_fraction and typo_rate must be in [0, 1]")
    shape = _as_shape(size, dim)
    # validate lesion settings early (cheap dry run)
    sample_case(np.random.default_rng(0), shape, dim, num_lesions, num_targets, typo_rate=0.0)

    raw_root = os.path.abspath(raw_root)
    folder_name = f"Dataset{dataset_id:03d}_{name}"
    folder = os.path.join(raw_root, folder_name)
    os.makedirs(raw_root, exist_ok=True)
    clashes = [d for d in os.listdir(raw_root) if d.startswith(f"Dataset{dataset_id:03d}_") and d != folder_name
               and os.path.isdir(os.path.join(raw_root, d))]
    if clashes:
        raise FileExistsError(f"dataset id {dataset_id} is already used by {os.path.join(raw_root, clashes[0])}")
    if os.path.exists(folder) and not overwrite:
        raise FileExistsError(f"{folder} already exists (pass overwrite=True / --overwrite to replace it)")

    file_ending = ".png" if dim == 2 else ".nii.gz"
    tmp = tempfile.mkdtemp(prefix=f".{folder_name}.", suffix=".tmp", dir=raw_root)
    try:
        reports: Dict[str, str] = {}
        n_empty_total = 0
        for split, (prefix, n_cases, img_dir, lab_dir) in enumerate(
                ((TRAIN_PREFIX, num_train, "imagesTr", "labelsTr"), (TEST_PREFIX, num_test, "imagesTs", "labelsTs"))):
            os.makedirs(os.path.join(tmp, img_dir))
            os.makedirs(os.path.join(tmp, lab_dir))
            n_empty = int(round(empty_fraction * n_cases))
            empty_idx = set(int(i) for i in np.random.default_rng([seed, split, 10 ** 6]).permutation(n_cases)[:n_empty])
            n_empty_total += n_empty
            for i in range(n_cases):
                case = f"{prefix}{i:04d}"
                rng = np.random.default_rng([seed, split, i])
                image, mask, report, _ = sample_case(rng, shape, dim, num_lesions, num_targets,
                                                     empty=i in empty_idx, typo_rate=typo_rate)
                _write_case(image, mask, os.path.join(tmp, img_dir, f"{case}_0000{file_ending}"),
                            os.path.join(tmp, lab_dir, f"{case}{file_ending}"), dim)
                reports[case] = report

        from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json
        generate_dataset_json(tmp, {"0": "synthetic"}, {"background": 0, "lesion": 1}, num_train, file_ending,
                              dataset_name=folder_name,
                              description=f"Synthetic {dim}D language-guided segmentation dataset (seed {seed}).",
                              license="CC0 (synthetic data)",
                              converted_by="nnunetv2_tmca.dataset_conversion.synthetic",
                              numTest=num_test, tmca=_tmca_info(dim))
        atomic_write_json(reports, os.path.join(tmp, REPORTS_FILENAME))

        if os.path.exists(folder):
            if os.path.isdir(folder) and not os.path.islink(folder):
                shutil.rmtree(folder)
            else:
                os.remove(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="nnUNetv2_tmca_make_synthetic",
        description="Create the synthetic TMCA dataset (several look-alike lesions; the report names the targets) "
                    "in $nnUNet_raw/DatasetXXX_Name.")
    parser.add_argument("-d", "--dataset_id", type=int, default=990, help="dataset id (default 990)")
    parser.add_argument("--name", default="TMCASynthetic", help="dataset name (default TMCASynthetic)")
    parser.add_argument("--num_train", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=10)
    parser.add_argument("--size", type=int, default=None, help="edge length (default 64 for 2D, 32 for 3D)")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--num_lesions", type=int, nargs=2, default=(4, 5), metavar=("MIN", "MAX"),
                        help="look-alike lesions per image, at most 6 (default 4 5; the benchmark uses 5 6)")
    parser.add_argument("--num_targets", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"),
                        help="of them named by the report (default 1 3)")
    parser.add_argument("--empty_fraction", type=float, default=0.0, help="fraction of cases without target")
    parser.add_argument("--typo_rate", type=float, default=0.05, help="fraction of reports with a typo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("-o", "--output", default=None, help="raw data root (default: $nnUNet_raw)")
    args = parser.parse_args(argv)

    raw_root = args.output or os.environ.get("nnUNet_raw")
    if not raw_root:
        parser.error("no output folder: pass -o RAW_ROOT or set nnUNet_raw")
    size = args.size if args.size is not None else (64 if args.dim == 2 else 32)
    try:
        folder = make_synthetic_dataset(raw_root, args.dataset_id, args.name, args.num_train, args.num_test,
                                        size=size, dim=args.dim, num_lesions=tuple(args.num_lesions),
                                        num_targets=tuple(args.num_targets), empty_fraction=args.empty_fraction,
                                        typo_rate=args.typo_rate, seed=args.seed, overwrite=args.overwrite)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"Wrote {folder}")
    print(f"  {args.dim}D, size {size}, {args.num_train} training cases, {args.num_test} test cases, "
          f"{int(round(args.empty_fraction * args.num_train)) + int(round(args.empty_fraction * args.num_test))} "
          f"without target, reports in {REPORTS_FILENAME}")


if __name__ == "__main__":
    main()
