"""Test-time mirroring with the report flipped along with the image.

nnU-Net averages over the flips F of its mirror axes (identity included):
    p(x) = 1/|F| sum_{f in F} f^-1( net(f(x)) ).
A report that names sides must flip too, or every flipped pass is asked for the wrong side:
    p(x, r) = 1/|F| sum_{f in F} f^-1( net(f(x), m_f(r)) ),
m_f trading left <-> right / upper <-> lower for the axes f flips (``words.mirror_report``). The
texts m_f(r) are encoded once per case and handed in as ``flip_texts`` {flip axes: encoded text}
(``ReportAxes.flip_texts``).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor


def predict_with_paired_mirroring(network, tmca_network, x: torch.Tensor, flip_texts: dict) -> torch.Tensor:
    """p(x, r) above; ``network`` is what nnU-Net calls (maybe compiled), ``tmca_network`` binds the texts."""
    prediction = network(x)
    for flip, text in flip_texts.items():
        dims = [a + 2 for a in flip]
        with tmca_network.bind_text(text):
            prediction += torch.flip(network(torch.flip(x, dims)), dims)
    return prediction / (len(flip_texts) + 1)


@contextmanager
def paired_mirroring_in_validation(tmca_network, current_flip_texts):
    """Within the block, the predictor nnU-Net's ``perform_actual_validation`` creates pairs each flip with
    the flipped report; ``current_flip_texts()`` gives {flip: encoded text} of the case being predicted."""
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as trainer_module

    class PairedMirroringValidationPredictor(nnUNetPredictor):
        def _internal_maybe_mirror_and_predict(self, x):
            flip_texts = current_flip_texts() if self.use_mirroring and self.allowed_mirroring_axes else {}
            if not flip_texts:
                return super()._internal_maybe_mirror_and_predict(x)
            return predict_with_paired_mirroring(self.network, tmca_network, x, flip_texts)

    original = trainer_module.nnUNetPredictor
    trainer_module.nnUNetPredictor = PairedMirroringValidationPredictor
    try:
        yield
    finally:
        trainer_module.nnUNetPredictor = original
