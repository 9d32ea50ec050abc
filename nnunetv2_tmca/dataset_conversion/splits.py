"""``splits_final.json`` of a converted dataset: 5 folds that keep the official split.

Fold 0 is the official train/val split and folds 1-4 are identical copies of it (so that
whichever fold or ensemble of folds is trained, the official val cases are never trained
on). Only when the source has no official train/val pair (e.g. the MoNuSeg sample with a
Val_Folder only) it is nnU-Net's random 5-fold split (seed 12345) of all training cases.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

N_FOLDS = 5
CROSSVAL_SEED = 12345


def build_splits(train_ids: Sequence[str], val_ids: Sequence[str]) -> Tuple[List[Dict[str, List[str]]], str]:
    """(list of 5 folds, description). See the module docstring."""
    train_ids, val_ids = sorted(train_ids), sorted(val_ids)
    if train_ids and val_ids:
        return ([{"train": list(train_ids), "val": list(val_ids)} for _ in range(N_FOLDS)],
                "fold 0 = official train/val split; folds 1-4 are copies of fold 0")
    all_ids = sorted(set(train_ids) | set(val_ids))
    if len(all_ids) < 2:
        return ([{"train": list(all_ids), "val": list(all_ids)} for _ in range(N_FOLDS)],
                "single training case: train = val = that case in all 5 folds")
    from nnunetv2.utilities.crossval_split import generate_crossval_split
    k = min(N_FOLDS, len(all_ids))
    folds = generate_crossval_split(all_ids, seed=CROSSVAL_SEED, n_splits=k)
    folds = [{"train": sorted(str(i) for i in f["train"]), "val": sorted(str(i) for i in f["val"])}
             for f in folds]
    while len(folds) < N_FOLDS:
        folds.append(dict(folds[len(folds) % k]))
    which = "train" if train_ids else "val"
    return (folds, f"no official train/val pair (source has {which} cases only): random {k}-fold split "
                   f"(seed {CROSSVAL_SEED}) of all training cases" + ("" if k == N_FOLDS else
                                                                      ", repeated up to 5 folds"))
