"""Nested ablations: each variant differs from the default TMCA trainer in exactly one resolved setting."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nnunetv2_tmca.model.config import resolve_stages
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA
from nnunetv2_tmca.training.variants.ablations.tmca_ablations import NESTED_ABLATIONS

FORWARDED = {"tmca_network", "attention_grid_fraction", "align_features", "text_encoder", "text_max_length",
             "text_mirroring"}


def resolved_settings(cls, has_regions=False) -> dict:
    """The network settings the trainer writes into the plans, plus every other trainer setting."""
    trainer = cls.__new__(cls)  # no plans needed: only class attributes and the label manager are read
    trainer.label_manager = SimpleNamespace(has_regions=has_regions)
    settings = {f"network.{k}": v for k, v in trainer.tmca_config(384).to_dict().items()}
    names = {k for c in cls.__mro__ if issubclass(c, nnUNetTrainerTMCA) for k, v in vars(c).items()
             if not k.startswith("_") and not callable(v) and not isinstance(v, (property, staticmethod, classmethod))}
    settings.update({k: getattr(cls, k) for k in names - FORWARDED})
    return settings


def test_default_writes_its_settings():
    s = resolved_settings(nnUNetTrainerTMCA)
    assert s["network.align_features"] == "skip" and s["network.use_position"] and s["align_positives"] == "group"
    assert s["align_pixel_weight"] == 1.0
    assert not s["network.fuse_all_channels"]
    assert resolved_settings(nnUNetTrainerTMCA, True)["network.fuse_all_channels"]


@pytest.mark.parametrize("cls", NESTED_ABLATIONS, ids=lambda c: c.__name__)
def test_each_nested_ablation_switches_exactly_one_setting(cls):
    default, variant = resolved_settings(nnUNetTrainerTMCA), resolved_settings(cls)
    assert set(default) == set(variant)
    changed = {k for k in default if default[k] != variant[k]}
    assert len(changed) == 1, changed


@pytest.mark.parametrize("num_stages", [2, 3, 4, 5, 6])
def test_one_align_stage_is_one_of_the_defaults(num_stages):
    one = resolve_stages("middle_highest", num_stages)
    assert len(one) == 1 and set(one) <= set(resolve_stages("middle", num_stages))


def test_nested_ablations_are_exported_with_budgets():
    from nnunetv2_tmca.training import TRAINERS
    for cls in NESTED_ABLATIONS:
        assert TRAINERS[cls.__name__] is cls and f"{cls.__name__}_demo" in TRAINERS


def test_text_lookup_groups_identical_reports():
    from nnunetv2_tmca.reports import text_hash
    from nnunetv2_tmca.text.cache import TextEncodingTable
    from nnunetv2_tmca.training.text_lookup import TextLookup
    reports = {"a": "Upper left lesion.", "b": "upper left lesion", "c": "Lower right nodule."}
    texts = ["Upper left lesion.", "upper left lesion", "Lower right nodule."]
    pooled = np.array([[3.0, 0, 0], [3.0, 0.1, 0], [0, 0, 2.0]], dtype=np.float32)
    table = TextEncodingTable.from_padded(tokens=np.zeros((3, 2, 3), np.float16), mask=np.ones((3, 2), bool),
                                          pooled=pooled, hashes=[text_hash(t) for t in texts],
                                          identity={}).bind_cases(reports)
    lookup = TextLookup(table, reports, torch.device("cpu"))
    assert lookup.num_groups == 2
    groups = lookup.batch(["a", "b", "c"])["group"]
    assert groups[0] == groups[1] != groups[2]


def test_trainer_catalog_page_is_current():
    """documentation/trainers.md is nnUNetv2_tmca_list_trainers --markdown: every trainer name is findable."""
    from nnunetv2_tmca.training import TRAINERS
    from nnunetv2_tmca.training.catalog import catalog_markdown
    page = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "documentation",
                             "trainers.md")).read()
    assert page.endswith(catalog_markdown()), "regenerate the table: nnUNetv2_tmca_list_trainers --markdown"
    assert all(f"`{name}`" in page for name in TRAINERS if not name.endswith(("_debug", "_demo", "_synth", "_cpu")))
