"""``nnUNetv2_tmca_list_trainers``: every trainer name nnU-Net can find here, and what each one changes.

The budget trainers (``<trainer>_debug``, ``_demo``, ``_synth``, ``_cpu``) are made at import by
``budget_trainer``, so their names cannot be grepped: this command (and documentation/trainers.md,
which it writes with ``--markdown``) lists them. A variant's "changes" are the settings (class
attributes of nnUNetTrainerTMCA) whose value differs from the default trainer's.
"""
from __future__ import annotations

import argparse

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunetv2_tmca.training import TRAINERS, VARIANTS
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA
from nnunetv2_tmca.training.variants.schedules.budgets import NAMED_BUDGETS

SETTINGS = tuple(nnUNetTrainerTMCA.__annotations__)


def changed_settings(trainer: type) -> dict:
    """{setting: value} where ``trainer`` differs from nnUNetTrainerTMCA."""
    if not issubclass(trainer, nnUNetTrainerTMCA):
        return {}
    return {k: getattr(trainer, k) for k in SETTINGS if getattr(trainer, k) != getattr(nnUNetTrainerTMCA, k)}


def describe(trainer: type) -> str:
    if not issubclass(trainer, nnUNetTrainerTMCA):
        return "image-only nnU-Net"
    changes = changed_settings(trainer)
    return ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "the default"


def catalog_markdown() -> str:
    """The table of documentation/trainers.md."""
    lines = ["| trainer | changes from nnUNetTrainerTMCA |", "|---|---|"]
    lines += [f"| `{t.__name__}` | {describe(t)} |" for t in [nnUNetTrainer, *VARIANTS]]
    lines += ["", "Each trainer above also exists at these budgets, as `<trainer>_<budget>` "
              f"({len(TRAINERS) - len(VARIANTS)} names):", "",
              "| budget | epochs | iterations per epoch | validation iterations | batch size |",
              "|---|---|---|---|---|"]
    lines += [f"| `_{name}` | {e} | {i} | {v} | {b} |" for name, (e, i, v, b) in NAMED_BUDGETS.items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nnUNetv2_tmca_list_trainers",
                                     description="List the trainers of nnunetv2_tmca (for nnUNetv2_train -tr).")
    parser.add_argument("--all", action="store_true", help="every name, the budget trainers included")
    parser.add_argument("--markdown", action="store_true", help="the table of documentation/trainers.md")
    args = parser.parse_args(argv)
    if args.markdown:
        print(catalog_markdown(), end="")
        return
    names = sorted(TRAINERS) if args.all else [t.__name__ for t in VARIANTS]
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {describe(TRAINERS[name])}")
    if not args.all:
        print(f"\n+ each at the budgets {', '.join('_' + b for b in NAMED_BUDGETS)} (also nnUNetTrainer): --all lists "
              f"all {len(TRAINERS)} names")


if __name__ == "__main__":
    main()
