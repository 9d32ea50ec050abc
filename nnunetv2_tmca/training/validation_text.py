"""Give nnU-Net's own validation loop each case's report.

``nnUNetTrainer.perform_actual_validation`` loads every validation case with
``dataset.load_case(k)`` and then runs sliding-window inference on it in the same process.
Wrapping the dataset class so that ``load_case(k)`` first binds case k's report to the
network reuses that loop unchanged (export, resampling, cascades, DDP splitting, metrics);
with text-consistent mirroring each test-time flip is paired with the flipped report.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager, nullcontext

from nnunetv2_tmca.mirroring.test_time import paired_mirroring_in_validation
from nnunetv2_tmca.training.text_lookup import text_key


def case_text_binding_dataset(dataset_class, bind_case_text):
    class CaseTextBindingDataset(dataset_class):
        def load_case(self, identifier):
            bind_case_text(identifier)
            return super().load_case(identifier)

    CaseTextBindingDataset.__name__ = f"TextBound{dataset_class.__name__}"
    return CaseTextBindingDataset


class CaseReportBinding:
    """Binds one case's report, and each test-time flip's flipped report, to the network."""

    def __init__(self, network, text_lookup, report_axes, mirror_axes, reportless=()):
        self.network, self.text_lookup, self.report_axes = network, text_lookup, report_axes
        self.mirror_axes, self.reportless = mirror_axes, frozenset(reportless)
        self.flip_texts = {}  # flip axes -> encoded mirrored report of the bound case

    @contextmanager
    def case(self, case_id: str):
        """Within the block, the network predicts with the case's report, each flip with the flipped report."""
        self.flip_texts = self.report_axes.flip_texts(
            self.mirror_axes, lambda groups: self.text_lookup.single(text_key(case_id, groups, self.reportless)))
        try:
            with self.network.bind_text(self.text_lookup.single(case_id)):
                yield
        finally:
            self.flip_texts = {}

    @contextmanager
    def per_loaded_case(self, trainer):
        """Within the block, ``trainer``'s dataset class binds each case's report when nnU-Net loads the case,
        until the next one is loaded."""
        original, current_case = trainer.dataset_class, ExitStack()

        def bind_case(case_id):
            current_case.close()
            current_case.enter_context(self.case(case_id))

        trainer.dataset_class = case_text_binding_dataset(original, bind_case)
        try:
            with paired_mirroring_in_validation(self.network, lambda: self.flip_texts) \
                    if self.report_axes.trades_words else nullcontext():
                yield
        finally:
            trainer.dataset_class = original
            current_case.close()
