"""Kvasir-SEG (colonoscopy polyps) with MedVLSM prompts -> nnU-Net raw dataset.

Source: ``images/*.jpg``, ``masks/*.jpg`` (JPEG masks: thresholded at > 127) and
``anns/{train,val,test}.json`` from naamiinepal/medvlsm: a list of entries with
``img_name``, ``mask_name`` and ``prompts`` ``{"p0": ..., "p9": ...}``. ``prompt`` picks the
prompt used as report (default ``p6``: count, size, colour, shape, position); p7-p9 are
lists of alternative phrasings: the first one is used. p0 is empty and cannot be used
(reports must be non-empty).

train + val -> imagesTr (fold 0 = official train/val), test -> imagesTs. Images are written as
one 3-channel RGB PNG per case (channel_names R/G/B). The prompts say "located in right of
the image": left/right is the image side (``"laterality": "image"``).
"""
from __future__ import annotations

import json
import os
from typing import List, Optional

from nnunetv2_tmca.dataset_conversion.cases import Case, Problems, list_image_files, sanitize_case_id
from nnunetv2_tmca.dataset_conversion.common import SPLITS, ConversionError, ids_text, info, warn
from nnunetv2_tmca.dataset_conversion.destination import check_destination
from nnunetv2_tmca.dataset_conversion.raw_dataset import write_dataset

DEFAULT_NAME = "KvasirSEG"
DEFAULT_PROMPT = "p6"
TARGET = "polyp"
CHANNEL_NAMES = {"0": "R", "1": "G", "2": "B"}


def _prompt_text(value):
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return None
    return str(value)


def list_kvasir(source: str, prompt: str, problems: Problems) -> List[Case]:
    ann_dir = os.path.join(source, "anns")
    for sub in ("images", "masks", "anns"):
        if not os.path.isdir(os.path.join(source, sub)):
            raise ConversionError(f"{source} has no {sub}/ folder (Kvasir-SEG with MedVLSM anns layout)")
    images = list_image_files(os.path.join(source, "images"))
    masks = list_image_files(os.path.join(source, "masks"))
    cases: List[Case] = []
    split_of = {}
    in_two, missing_prompt = set(), []
    found = []
    for split in SPLITS:
        path = os.path.join(ann_dir, f"{split}.json")
        if not os.path.isfile(path):
            continue
        found.append(split)
        try:
            with open(path, "r", encoding="utf-8-sig") as f:
                entries = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ConversionError(f"Cannot read {path}: {type(e).__name__}") from None
        if isinstance(entries, dict):
            entries = list(entries.values())
        if not isinstance(entries, list):
            raise ConversionError(f"{path} must be a list of entries with img_name, mask_name, prompts")
        no_image, seen, repeated = [], set(), 0
        for e in entries:
            if not isinstance(e, dict) or "img_name" not in e:
                raise ConversionError(f"{path}: every entry needs 'img_name', 'mask_name' and 'prompts'")
            stem = os.path.splitext(os.path.basename(str(e["img_name"])))[0]
            if stem in seen:
                repeated += 1
                continue
            seen.add(stem)
            if stem in split_of:
                in_two.add(stem)
                continue
            split_of[stem] = split
            if stem not in images:
                no_image.append(stem)
                continue
            mstem = os.path.splitext(os.path.basename(str(e.get("mask_name", e["img_name"]))))[0]
            prompts = e.get("prompts") or {}
            text = _prompt_text(prompts.get(prompt)) if isinstance(prompts, dict) else None
            if text is None:
                missing_prompt.append(stem)
            cases.append(Case(sanitize_case_id(stem), split, images[stem], masks.get(mstem), text,
                              source_name=f"images/{os.path.basename(images[stem])}"))
        if repeated:
            warn(f"{path}: {repeated} entries repeat an earlier img_name (kept once)")
        problems.add(f"listed in anns/{split}.json but no image in images/", no_image)
        info(f"anns/{split}.json: {len(entries)} entries")
    if not found:
        raise ConversionError(f"{ann_dir} has none of train.json, val.json, test.json")
    problems.add("listed in more than one anns/*.json", sorted(in_two))
    problems.add(f"entry has no prompt '{prompt}'", missing_prompt)
    cases = [c for c in cases if c.source_name and os.path.splitext(os.path.basename(c.image))[0] not in in_two]
    problems.add("mask without image", sorted(set(masks) - set(images)))
    unlisted = sorted(set(images) - set(split_of))
    if unlisted:
        warn(f"{len(unlisted)} images in {source}/images are in no anns/*.json (ignored): {ids_text(unlisted)}")
    info(f"{source}: {len(images)} images, {len(masks)} masks")
    return cases


def convert_kvasir(source: str, dataset_id: int, layout: str = "medvlsm", name: Optional[str] = None,
                   overwrite: bool = False, max_cases: Optional[int] = None, resize: Optional[int] = None,
                   prompt: str = DEFAULT_PROMPT, skip_missing: bool = False, raw_root: Optional[str] = None,
                   preprocessed_root: Optional[str] = None, progress: bool = True) -> str:
    """Convert Kvasir-SEG + MedVLSM prompts; returns the raw dataset folder."""
    source = os.path.abspath(os.fspath(source))
    if not os.path.isdir(source):
        raise ConversionError(f"Source folder not found: {source}")
    if layout not in (None, "auto", "medvlsm"):
        raise ConversionError(f"Kvasir-SEG is only supported in the MedVLSM layout ('medvlsm'), not {layout!r}")
    check_destination(dataset_id, name or DEFAULT_NAME, overwrite, raw_root, preprocessed_root)
    problems = Problems()
    cases = list_kvasir(source, prompt, problems)
    return write_dataset(
        cases, problems=problems, dataset_id=dataset_id, name=name or DEFAULT_NAME, rgb=True, target=TARGET,
        channel_names=CHANNEL_NAMES, source="Kvasir-SEG + MedVLSM prompts", layout="medvlsm",
        overwrite=overwrite, resize=resize, max_cases=max_cases, skip_missing=skip_missing, laterality="image",
        extra_tmca={"prompt": prompt},
        description=f"Kvasir-SEG colonoscopy polyps with MedVLSM prompt {prompt} as report",
        reference="Kvasir-SEG (Jha et al., Simula); prompts: Poudel et al., MedVLSM (naamiinepal/medvlsm)",
        raw_root=raw_root, preprocessed_root=preprocessed_root, progress=progress)
