"""Place-phrasing augmentation (text/place_phrasing.py, ``place_phrasings`` of the trainer): every rewrite names
the same lobe places, words outside the place phrases stay, and the trainer's lookup reads a case's phrasings as
one report group, composed with text-consistent mirroring."""
import random
import re

import numpy as np
import pytest
import torch

from nnunetv2_tmca.mirroring.keys import with_mirrored_reports
from nnunetv2_tmca.text.cache import ensure_text_encodings
from nnunetv2_tmca.text.place_phrasing import (
    place_phrase_count,
    place_phrasings,
    rephrase,
    unphrased_key,
    with_place_phrasings,
)
from nnunetv2_tmca.training.text_lookup import TextLookup, batch_text_keys, draw_phrasing_keys

# an independent reader of the three phrasings (not the module's regexes): (side, zone) in order of appearance
_READERS = [re.compile(r"(upper|middle|lower) lobe of the (right|left) lung", re.I),
            re.compile(r"(right|left) lung (upper|middle|lower) lobe", re.I),
            re.compile(r"(right|left) (upper|middle|lower) lobe", re.I)]


def places(text):
    found = []
    for k, reader in enumerate(_READERS):
        for m in reader.finditer(text):
            side, zone = (m.group(2), m.group(1)) if k == 0 else (m.group(1), m.group(2))
            found.append((m.start(), side.lower(), zone.lower()))
            text = text[:m.start()] + "#" * (m.end() - m.start()) + text[m.end():]  # a place is read once
    return [p[1:] for p in sorted(found)]


def other_words(text):
    """The words outside the place phrases."""
    for reader in _READERS:
        text = reader.sub(" ", text)
    return [w for w in re.findall(r"[a-z0-9.]+", text.lower()) if w not in ("the",)]


SENTENCE = ("A 4 mm nodule is seen in the upper lobe of the right lung, series 2 image 134; another in the left lung "
            "lower lobe. No consolidation in the right middle lobe.")


def test_every_rewrite_names_the_same_places_and_keeps_the_other_words():
    rng = random.Random(0)
    forms = set()
    for _ in range(60):
        out = rephrase(SENTENCE, rng)
        assert places(out) == places(SENTENCE) == [("right", "upper"), ("left", "lower"), ("right", "middle")]
        assert other_words(out) == other_words(SENTENCE)
        forms.add(out)
    # each of the three phrases takes each of its three forms at some draw
    assert len(forms) > 9
    for phrase_forms in (("upper lobe of the right lung", "right lung upper lobe", "right upper lobe"),
                         ("lower lobe of the left lung", "left lung lower lobe", "left lower lobe")):
        assert all(any(f in out for out in forms) for f in phrase_forms)


def test_capitals_both_sides_and_segments():
    rng = random.Random(1)
    outs = {rephrase("Right lung upper lobe: clear.", rng) for _ in range(40)}
    assert all(o[0] == "R" or o[0] == "U" for o in outs) and len(outs) == 3
    outs = {rephrase("Ground glass in the lower lobes of both lungs.", rng) for _ in range(40)}
    assert outs == {"Ground glass in the lower lobes of both lungs.", "Ground glass in the both lungs lower lobes.",
                    "Ground glass in the bilateral lower lobes."}
    # a segment named after the lobe: only the forms that end in "lobe" ("... upper lobe anterior segment")
    outs = {rephrase("Nodule in the left lung upper lobe anterior segment.", rng) for _ in range(40)}
    assert outs == {"Nodule in the left lung upper lobe anterior segment.",
                    "Nodule in the left upper lobe anterior segment."}


def test_phrasings_are_distinct_deterministic_and_only_where_a_place_is_named():
    assert place_phrase_count(SENTENCE) == 3
    variants = place_phrasings(SENTENCE, 4, seed=3)
    assert len(variants) == 4 == len(set(variants)) and SENTENCE not in variants
    assert variants == place_phrasings(SENTENCE, 4, seed=3)
    assert place_phrasings("No nodule. Heart normal.", 4) == [] and place_phrasings(SENTENCE, 0) == []
    assert len(place_phrasings("Nodule in the right lower lobe.", 4)) == 2  # three forms: two others

    reports = {"a": SENTENCE, "b": "No nodule. Heart normal."}
    out, keys = with_place_phrasings(reports, 2, seed=0)
    assert set(keys) == {"a"} and keys["a"] == ["a", "a|phrasing:0", "a|phrasing:1"]
    assert out["a"] == SENTENCE and out["b"] == reports["b"] and places(out["a|phrasing:1"]) == places(SENTENCE)
    assert with_place_phrasings(reports, 0) == (reports, {})
    assert with_place_phrasings(reports, 2, cases=["b"]) == (reports, {})  # only the given cases (training)
    assert unphrased_key("a|phrasing:1|mirror:lr") == "a|mirror:lr" and unphrased_key("a|mirror:lr") == "a|mirror:lr"


def test_draw_phrasing_keys_draws_each_option():
    keys = {"a": ["a", "a|phrasing:0", "a|phrasing:1"]}
    rng = np.random.RandomState(0)
    drawn = [k for _ in range(60) for k in draw_phrasing_keys(["a", "b"], keys, rng)]
    assert set(drawn[0::2]) == set(keys["a"]) and set(drawn[1::2]) == {"b"}
    assert draw_phrasing_keys(["a"], {}) == ["a"]


@pytest.fixture(scope="module")
def encoder():
    from nnunetv2_tmca.text.encoder import FrozenTextEncoder
    return FrozenTextEncoder(None, max_length=128)


def test_lookup_reads_phrasings_as_one_group_and_composes_with_mirroring(encoder, tmp_path):
    from nnunetv2_tmca.mirroring.axes import ReportAxes
    reports = {"a": SENTENCE, "b": "Nodule in the left upper lobe.", "c": "No nodule."}
    lookup_reports, keys = with_place_phrasings(reports, 2)
    lookup_reports = with_mirrored_reports(lookup_reports, ["left_right"])
    table = ensure_text_encodings(lookup_reports, str(tmp_path), encoder=encoder, units="sentences",
                                  logger=lambda m: None)
    lookup = TextLookup(table, lookup_reports, torch.device("cpu"))
    # phrasings share their report's group; the mirrored phrasing shares the mirrored report's group
    batch = lookup.batch(["a", "a|phrasing:0", "a|phrasing:1", "b", "a|mirror:left_right",
                          "a|phrasing:1|mirror:left_right"])
    group = batch["group"].tolist()
    assert group[0] == group[1] == group[2] != group[3] and group[4] == group[5] != group[0]
    assert not torch.equal(batch["tokens"][0], batch["tokens"][1])  # other words, other token states
    # the trainer's path: draw a phrasing, then the flip's mirrored key; every key it makes is in the lookup
    axes = ReportAxes({1: "left_right"})
    seen = set()
    for _ in range(30):
        drawn = batch_text_keys(draw_phrasing_keys(["a", "b", "c"], keys), torch.tensor([[0, 1], [0, 0], [0, 1]]),
                                axes)
        lookup.batch(drawn)  # every key is in the lookup
        seen.update(drawn)
    assert {"a|mirror:left_right", "a|phrasing:0|mirror:left_right", "b", "c|mirror:left_right"} <= seen
