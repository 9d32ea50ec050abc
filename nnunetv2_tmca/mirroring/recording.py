"""Data loading that records which axes each training sample was mirrored along.

nnU-Net mirrors each sample inside its data loader (batchgeneratorsv2 ``MirrorTransform``,
every allowed axis with probability 0.5) and returns only image, target and keys. For a
report that must follow the flip, ``MirrorFlagDataLoader`` swaps the loader's
``MirrorTransform`` for ``RecordingMirrorTransform`` (same flips, same random draws) and
adds ``batch['mirrored']``: a (batch, patch_dim) bool tensor, True where sample b was
flipped along patch axis a. It works in nnU-Net's background workers too (the flags travel
with the batch).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

MIRRORED_KEY = "tmca_mirrored_axes"


class RecordingMirrorTransform(MirrorTransform):
    """``MirrorTransform`` that also writes the flipped axes into the sample dict."""

    def apply(self, data_dict, **params):
        data_dict = super().apply(data_dict, **params)
        data_dict[MIRRORED_KEY] = tuple(int(a) for a in params["axes"])
        return data_dict


def _with_recording_mirror(transforms):
    """Replace every MirrorTransform (also inside ComposeTransforms) by its recording twin."""
    if isinstance(transforms, MirrorTransform) and not isinstance(transforms, RecordingMirrorTransform):
        return RecordingMirrorTransform(transforms.allowed_axes)
    if isinstance(transforms, ComposeTransforms):
        transforms.transforms = [_with_recording_mirror(t) for t in transforms.transforms]
    return transforms


class MirrorFlagDataLoader(nnUNetDataLoader):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.transforms = _with_recording_mirror(self.transforms)
        self.patch_dim = len(self.final_patch_size) - int(self.patch_size_was_2d)

    def generate_train_batch(self):
        flipped = []
        transforms = self.transforms
        if transforms is not None:
            def recording(**data_dict):
                out = transforms(**data_dict)
                flipped.append(out.pop(MIRRORED_KEY, ()))
                return out
            self.transforms = recording
        try:
            batch = super().generate_train_batch()
        finally:
            self.transforms = transforms
        mirrored = torch.zeros((len(batch["keys"]), self.patch_dim), dtype=torch.bool)
        for b, axes in enumerate(flipped):
            mirrored[b, list(axes)] = True
        batch["mirrored"] = mirrored
        return batch


@contextmanager
def mirror_flag_data_loaders():
    """Within the block, ``nnUNetTrainer.get_dataloaders`` builds ``MirrorFlagDataLoader`` s.

    nnU-Net names its loader class inside ``get_dataloaders``; swapping that one module global for
    the duration of the call keeps nnU-Net's method (and its future changes) instead of a copy.
    """
    from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as trainer_module
    original = trainer_module.nnUNetDataLoader
    trainer_module.nnUNetDataLoader = MirrorFlagDataLoader
    try:
        yield
    finally:
        trainer_module.nnUNetDataLoader = original
