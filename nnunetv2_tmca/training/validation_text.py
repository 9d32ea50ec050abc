"""Give nnU-Net's own validation loop each case's report.

``nnUNetTrainer.perform_actual_validation`` loads every validation case with
``dataset.load_case(k)`` and then runs sliding-window inference on it in the same process.
Wrapping the dataset class so that ``load_case(k)`` first binds case k's report to the
network reuses that loop unchanged (export, resampling, cascades, DDP splitting, metrics).
"""
from __future__ import annotations


def case_text_binding_dataset(dataset_class, bind_case_text):
    class CaseTextBindingDataset(dataset_class):
        def load_case(self, identifier):
            bind_case_text(identifier)
            return super().load_case(identifier)

    CaseTextBindingDataset.__name__ = f"TextBound{dataset_class.__name__}"
    return CaseTextBindingDataset
