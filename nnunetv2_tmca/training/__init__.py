"""Trainers of nnunetv2_tmca. nnU-Net finds them through ``ext_trainers/tmca_trainers.py``.

The list is derived: every nnU-Net trainer class defined in the variant modules, and each of them
(and nnUNetTrainer) at every named budget (``variants/schedules/budgets.py``);
``nnUNetv2_tmca_list_trainers`` (``catalog.py``) lists them.
"""
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer as _nnUNetTrainer

from nnunetv2_tmca.training import nnUNetTrainerTMCA as _tmca_module
from nnunetv2_tmca.training.variants.ablations import tmca_ablations as _ablations
from nnunetv2_tmca.training.variants.mirroring import text_mirroring as _mirroring
from nnunetv2_tmca.training.variants.null_text import null_text as _null_text
from nnunetv2_tmca.training.variants.schedules.budgets import named_budget_trainers
from nnunetv2_tmca.training.variants.text_augmentation import place_phrasing as _place_phrasing
from nnunetv2_tmca.training.variants.text_units import report_text as _report_text


def _trainers_defined_in(module) -> list:
    return [obj for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, _nnUNetTrainer)
            and obj.__module__ == module.__name__]


VARIANTS = [c for m in (_tmca_module, _ablations, _mirroring, _null_text, _report_text, _place_phrasing)
            for c in _trainers_defined_in(m)]
TRAINERS = {c.__name__: c for c in VARIANTS}
TRAINERS.update(named_budget_trainers(VARIANTS))
globals().update(TRAINERS)
__all__ = sorted(TRAINERS)
