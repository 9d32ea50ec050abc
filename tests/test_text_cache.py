"""Frozen encoder (offline default, errors) and the unique-text cache (hit, miss, stale, corrupt, interrupted write)."""
import json
import os

import numpy as np
import pytest

from nnunetv2_tmca.text import cache as cache_mod
from nnunetv2_tmca.text.cache import TextCacheError, cache_path, ensure_text_encodings, load_table
from nnunetv2_tmca.text.encoder import FrozenTextEncoder, TextEncoderError, encoder_identity

REPORTS = {"a": "two lesions, upper left and lower right.", "b": "two lesions, upper left and lower right.",
           "c": "single lesion in the middle right zone.", "d": "No lesion."}


@pytest.fixture(scope="module")
def encoder():
    return FrozenTextEncoder()  # bundled MiniLM, no network


def test_default_encoder_loads_offline_and_returns_token_states(encoder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = encoder.encode(list(REPORTS.values()))
    assert enc.tokens.shape[0] == 4 and enc.tokens.shape[2] == 384 == encoder.hidden_size
    assert enc.mask.shape == enc.tokens.shape[:2]
    # padding is zero and masked; lengths differ; identical texts give identical states
    lengths = enc.mask.sum(1)
    assert lengths[3] < lengths[0]
    assert np.all(enc.tokens[3, lengths[3]:] == 0)
    assert np.allclose(enc.tokens[0], enc.tokens[1])
    assert not np.allclose(enc.pooled[0], enc.pooled[2])
    # order of the output rows follows the input, whatever the internal length sorting
    single = encoder.encode([REPORTS["c"]])
    assert np.allclose(single.tokens[0, :lengths[2]], enc.tokens[2, :lengths[2]], atol=1e-5)


def test_wrong_encoder_name_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TextEncoderError, match="not-a-real/encoder-xyz") as e:
        FrozenTextEncoder("not-a-real/encoder-xyz")
    assert "local folder" in str(e.value)
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(TextEncoderError, match="empty_model"):
        encoder_identity(str(empty), 64)


def test_cache_miss_then_hit_then_incremental(tmp_path, encoder):
    logs = []
    t1 = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=logs.append)
    assert len(t1.hashes) == 3  # unique texts only
    assert t1.case_to_row["a"] == t1.case_to_row["b"] != t1.case_to_row["c"]
    path = cache_path(str(tmp_path), "default", 64)
    assert os.path.isfile(path) and t1.path == path
    assert "3 unique texts, 0 cached, 3 to encode" in logs[-1]
    assert all(text not in " ".join(logs) for text in REPORTS.values())  # never log report text
    mtime = os.path.getmtime(path)
    # hit: nothing re-encoded, the encoder is not even needed
    t2 = ensure_text_encodings(REPORTS, str(tmp_path), logger=logs.append)
    assert "3 cached, 0 to encode" in logs[-1] and os.path.getmtime(path) == mtime
    assert np.array_equal(t2.tokens, t1.tokens)
    # a new text: only it is encoded, old rows keep their index
    more = {**REPORTS, "e": "three lesions, upper left, lower left and middle right."}
    t3 = ensure_text_encodings(more, str(tmp_path), encoder=encoder, logger=logs.append)
    assert "3 cached, 1 to encode" in logs[-1]
    assert t3.hashes[:3] == t1.hashes and t3.case_to_row["e"] == 3
    assert np.array_equal(t3.tokens[:3, :t1.tokens.shape[1]], t1.tokens)


def test_stale_cache_is_rebuilt(tmp_path, encoder, monkeypatch):
    ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    real = cache_mod.encoder_identity
    monkeypatch.setattr(cache_mod, "encoder_identity",
                        lambda name, length: {**real(name, length), "config_sha256": "changed"})
    logs = []
    t = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=logs.append)
    assert any("another encoder configuration" in m for m in logs)
    assert t.identity["config_sha256"] == "changed"
    assert load_table(t.path).identity["config_sha256"] == "changed"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "bad_metadata"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, encoder, damage):
    t = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    data = open(t.path, "rb").read()
    if damage == "truncate":
        open(t.path, "wb").write(data[: len(data) // 2])
    elif damage == "garbage":
        open(t.path, "wb").write(b"\x00" * 100)
    else:  # valid safetensors, inconsistent metadata
        from safetensors.numpy import save
        open(t.path, "wb").write(save({"tokens": np.zeros((1, 2, 3), np.float16), "mask": np.zeros((1, 2), np.uint8),
                                       "pooled": np.zeros((1, 3), np.float32)},
                                      metadata={"format": cache_mod.CACHE_FORMAT, "identity": json.dumps(t.identity),
                                                "hashes": json.dumps(["x", "y"])}))
    with pytest.raises(TextCacheError, match="corrupt text cache"):
        load_table(t.path)
    logs = []
    t2 = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=logs.append)
    assert any("corrupt" in m for m in logs)
    assert np.allclose(load_table(t2.path).tokens, t.tokens)


def test_interrupted_write_keeps_previous_cache(tmp_path, encoder, monkeypatch):
    t = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    before = open(t.path, "rb").read()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    import nnunetv2_tmca.io_utils as io_utils
    monkeypatch.setattr(io_utils.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_text_encodings({**REPORTS, "e": "a new report"}, str(tmp_path), encoder=encoder, logger=lambda m: None)
    assert open(t.path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(t.path)]  # no temp file left behind


def test_table_lookup_errors(tmp_path, encoder):
    t = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    with pytest.raises(KeyError, match="zzz"):
        t.rows_for(["a", "zzz"])
    with pytest.raises(TextCacheError, match="not in the text cache"):
        load_table(t.path).bind_cases({"q": "never encoded"})


def test_cache_of_the_padded_format_v1_is_rebuilt_not_read(tmp_path, encoder):
    from safetensors.numpy import save
    t = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    open(t.path, "wb").write(save({"tokens": t.tokens, "mask": t.mask.astype(np.uint8), "pooled": t.pooled},
                                  metadata={"format": "nnunetv2_tmca.text_cache.v1",
                                            "identity": json.dumps(t.identity), "hashes": json.dumps(t.hashes)}))
    with pytest.raises(TextCacheError, match="corrupt text cache .*format tag"):
        load_table(t.path)
    logs = []
    t2 = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=logs.append)
    assert any("WARNING" in m and "Rebuilding" in m for m in logs) and "0 cached, 3 to encode" in logs[-1]
    assert load_table(t2.path).hashes == t.hashes and np.allclose(load_table(t2.path).tokens, t.tokens)


def test_rows_of_derived_texts_stay_only_when_the_caller_names_them(tmp_path, encoder):
    from nnunetv2_tmca.mirroring.keys import mirrored_texts, with_mirrored_reports
    from nnunetv2_tmca.reports import text_hash
    mirrored = text_hash("two lesions, upper right and lower left.")  # REPORTS["a"] after a left-right flip
    ensure_text_encodings(with_mirrored_reports(REPORTS, ["left_right"]), str(tmp_path), encoder=encoder,
                          logger=lambda m: None)  # as the trainer does with text-consistent mirroring
    kept = ensure_text_encodings(REPORTS, str(tmp_path), logger=lambda m: None, derived_texts=mirrored_texts)
    assert mirrored in load_table(kept.path).hashes and len(kept.hashes) > 3  # nothing encoded, nothing removed
    logs = []
    pruned = ensure_text_encodings(REPORTS, str(tmp_path), logger=logs.append)
    assert mirrored not in load_table(pruned.path).hashes and len(pruned.hashes) == 3
    assert "no longer in the reports removed" in logs[-1]


def test_encode_reports_cli_keeps_the_mirrored_rows(monkeypatch, encoder, tmp_path):
    from nnunetv2_tmca.mirroring.keys import mirrored_texts
    from nnunetv2_tmca.text import cli
    seen = {}

    def fake(dataset, *args, **kwargs):
        seen.update(kwargs)
        return REPORTS, ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, logger=lambda m: None)
    monkeypatch.setattr(cache_mod, "encode_dataset_reports", fake)
    cli.main(["-d", "1", "--units", "report"])
    assert seen["derived_texts"] is mirrored_texts
