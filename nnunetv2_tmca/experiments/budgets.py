"""Custom training budgets for the benchmark scripts, findable by the stock ``nnUNetv2_train``."""
from __future__ import annotations

import os

from nnunetv2_tmca.io_utils import atomic_write_bytes


def write_budget_trainers(folder: str, bases, epochs: int, iterations: int, batch_size: int) -> list:
    """Write ``folder/tmca_budget_trainers.py`` defining ``<base>_e{epochs}i{iterations}b{batch}`` for each base
    trainer (made by ``training.variants.schedules.budgets.budget_trainer``, the one budget mechanism) and return
    their names. Put ``folder`` into ``nnUNet_extTrainer`` so that the stock ``nnUNetv2_train`` finds them; the
    model folder's name then says the budget."""
    tag = f"_e{int(epochs)}i{int(iterations)}b{int(batch_size)}"
    settings = f"{int(epochs)}, {int(iterations)}, {max(1, int(iterations) // 4)}, {int(batch_size)}"
    names = [base + tag for base in bases]
    source = "\n".join([
        '"""Budget variants written by nnunetv2_tmca.experiments.budgets.write_budget_trainers."""',
        "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer",
        "import nnunetv2_tmca.training as tmca_trainers",
        "from nnunetv2_tmca.training.variants.schedules.budgets import budget_trainer",
        "",
        f"for _base in {list(bases)!r}:",
        "    _cls = nnUNetTrainer if _base == 'nnUNetTrainer' else getattr(tmca_trainers, _base)",
        f"    globals()[_base + {tag!r}] = budget_trainer(_cls, _base + {tag!r}, {settings}, module=__name__)",
        ""])
    os.makedirs(folder, exist_ok=True)
    atomic_write_bytes(source.encode(), os.path.join(folder, "tmca_budget_trainers.py"))
    return names
