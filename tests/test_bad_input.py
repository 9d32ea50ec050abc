"""Bad-input corpus (issue #17): each case fails cleanly or is handled, and existing data stays unchanged.

One test per row of the table "Bad input -> what happens" in documentation/reports_in_practice.md.
Every failing command must exit with code 1, print one line naming the file / case, no traceback,
and leave the hashes of the raw, preprocessed and results folders as they were.
"""
import hashlib
import json
import os
import shutil
import subprocess

import pytest
import torch

from helpers import DATASET_ID, DATASET_NAME, clean_env, run
from nnunetv2_tmca.checkpoints import UntrustedCheckpointError, load_checkpoint, nnunet_checkpoint_safe_globals
from nnunetv2_tmca.reports import ReportError, load_reports, text_hash
from nnunetv2_tmca.text import cache as cache_mod
from nnunetv2_tmca.text.cache import TextCacheError, ensure_text_encodings, load_table
from nnunetv2_tmca.text.encoder import FrozenTextEncoder, TextEncoderError

TRAINER = "nnUNetTrainerTMCA_debug"
PREDICT = ["-d", str(DATASET_ID), "-c", "2d", "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "0", "-nps", "0"]
MODEL_DIR = f"{TRAINER}__nnUNetPlans__2d"


# ------------------------------------------------------------------------------------------ helpers
def tree_hashes(*folders) -> dict:
    out = {}
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for f in files:
                path = os.path.join(dirpath, f)
                with open(path, "rb") as fh:
                    out[path] = hashlib.sha256(fh.read()).hexdigest()
    return out


def data_hashes(root) -> dict:
    return tree_hashes(root / "raw", root / "pre", root / "res")


def cli(cmd, env):
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=600)


def assert_clean_failure(p, *names):
    """Exit code 1, no traceback, one 'error:' line on stderr naming every given file / case."""
    assert p.returncode == 1, (p.returncode, p.stdout[-2000:], p.stderr[-3000:])
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    lines = [line for line in p.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1, p.stderr[-3000:]
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


class CreateFile:
    """Unpickling this creates ``path``: the stand-in for code in a crafted checkpoint."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def crafted_checkpoint(path, marker):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"network_weights": CreateFile(marker), "trainer_name": TRAINER}, path)
    return path


def copy_raw_dataset(folder, root):
    """A private copy of the raw dataset (tests must not touch the session's)."""
    dst = root / "raw" / DATASET_NAME
    shutil.copytree(folder, dst)
    return dst


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A 1-layer BERT with hidden size 8 and the bundled MiniLM's tokenizer: a valid local encoder folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from nnunetv2_tmca.text.encoder import default_encoder_path
    folder = tmp_path_factory.mktemp("enc") / "tiny_bert"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=80)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True).save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------ 1 checkpoints
def test_real_checkpoints_load_weights_only(trained_tiny_model):
    _, _, model, _ = trained_tiny_model
    allowed = {f"{g.__module__}.{g.__name__}" for g in nnunet_checkpoint_safe_globals()}
    for name in ("checkpoint_final.pth", "checkpoint_best.pth"):
        path = str(model / "fold_0" / name)
        assert set(torch.serialization.get_unsafe_globals_in_checkpoint(path)) <= allowed
        checkpoint = load_checkpoint(path)  # weights_only=True, no opt-in
        assert checkpoint["trainer_name"] == TRAINER and checkpoint["network_weights"]


def test_crafted_checkpoint_runs_no_code_in_prediction(trained_tiny_model, tmp_path):
    root, folder, model, _ = trained_tiny_model
    shared = tmp_path / "shared_model"
    shared.mkdir()
    for f in ("plans.json", "dataset.json"):
        shutil.copy(model / f, shared / f)
    marker = tmp_path / "code_ran"
    ckpt = crafted_checkpoint(str(shared / "fold_0" / "checkpoint_final.pth"), marker)
    before = data_hashes(root)
    cmd = ["nnUNetv2_predict_tmca_from_modelfolder", "-m", shared, "-i", os.path.join(folder, "imagesTs"),
           "-o", tmp_path / "out", "-f", "0", "-device", "cpu", "-npp", "0", "-nps", "0"]
    line = assert_clean_failure(cli(cmd, clean_env(root)), ckpt)
    assert "--trust_checkpoints" in line and "nnUNet_tmca_trust_checkpoints" in line
    assert not marker.exists() and not (tmp_path / "out").exists()
    assert data_hashes(root) == before
    # opt-in: nnU-Net's old behaviour, the pickle runs (and the command then fails on the fake content)
    p = cli(cmd + ["--trust_checkpoints"], clean_env(root))
    assert p.returncode != 0 and marker.exists()
    assert data_hashes(root) == before


def test_crafted_checkpoint_runs_no_code_in_training_val_and_pretrained(trained_tiny_model, tmp_path):
    root, folder, model, _ = trained_tiny_model
    marker = tmp_path / "code_ran"
    fold = tmp_path / "res" / DATASET_NAME / MODEL_DIR / "fold_0"
    ckpt = crafted_checkpoint(str(fold / "checkpoint_final.pth"), marker)
    env = clean_env(root, nnUNet_results=str(tmp_path / "res"), nnUNet_n_proc_DA="0")
    before = data_hashes(root)
    train = ["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"]
    assert_clean_failure(cli(train + ["--val"], env), ckpt)
    assert not marker.exists()
    pretrained = crafted_checkpoint(str(tmp_path / "pretrained.pth"), marker)
    shutil.rmtree(fold)
    assert_clean_failure(cli(train + ["-pretrained_weights", pretrained], env), pretrained)
    assert not marker.exists()
    assert data_hashes(root) == before
    # opt-in through nnU-Net's naming of environment variables: the old behaviour
    p = cli(train + ["-pretrained_weights", pretrained], {**env, "nnUNet_tmca_trust_checkpoints": "1"})
    assert p.returncode != 0 and marker.exists()
    assert data_hashes(root) == before


def test_cut_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "checkpoint_final.pth"
    path.write_bytes(b"")
    with pytest.raises(Exception, match=str(path)) as e:
        load_checkpoint(str(path))
    assert not isinstance(e.value, UntrustedCheckpointError)


# --------------------------------------------------------------------------------------- 2 encoders
def test_encoder_with_unrelated_weights_is_refused(tiny_dataset, tiny_encoder, tmp_path):
    from safetensors.torch import load_file, save_file
    root, _ = tiny_dataset
    bad = tmp_path / "unrelated_weights"
    shutil.copytree(tiny_encoder, bad)
    weights = load_file(str(bad / "model.safetensors"))
    save_file({"other_model." + k: v for k, v in weights.items()}, str(bad / "model.safetensors"),
              metadata={"format": "pt"})
    with pytest.raises(TextEncoderError, match=str(bad)):
        FrozenTextEncoder(str(bad))
    before = data_hashes(root)
    p = cli(["nnUNetv2_tmca_encode_reports", "-d", DATASET_ID, "--text_encoder", bad], clean_env(root))
    assert "do not match its config" in assert_clean_failure(p, bad)
    assert data_hashes(root) == before


def test_cache_whose_hidden_size_contradicts_its_identity_is_rebuilt(tiny_encoder, tmp_path):
    from safetensors.numpy import save
    encoder = FrozenTextEncoder(str(tiny_encoder))
    reports = {"a": "lesion upper left.", "b": "lesion lower right."}
    table = ensure_text_encodings(reports, str(tmp_path), encoder=encoder, logger=lambda m: None)
    lying = {**table.identity, "hidden_size": 384}
    with open(table.path, "wb") as f:
        f.write(save({"flat": table.flat, "lengths": table.lengths, "pooled": table.pooled},
                     metadata={"format": cache_mod.CACHE_FORMAT, "identity": json.dumps(lying),
                               "hashes": json.dumps(table.hashes)}))
    with pytest.raises(TextCacheError, match="contradict"):
        load_table(table.path)
    logs = []
    ensure_text_encodings(reports, str(tmp_path), encoder=encoder, logger=logs.append)
    assert any("contradict" in m and "Rebuilding" in m for m in logs)
    assert load_table(table.path).identity == table.identity


# ------------------------------------------------------------------------------------ 3 predictions
def test_continue_prediction_redoes_empty_and_cut_outputs(trained_tiny_model, tmp_path):
    root, folder, _, _ = trained_tiny_model
    out = tmp_path / "out"
    cmd = ["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", out, *PREDICT]
    run([str(c) for c in cmd], clean_env(root))
    outputs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    assert len(outputs) >= 3 and not [f for f in os.listdir(out) if f.startswith(".")]  # no partial files left
    reference = {f: (out / f).read_bytes() for f in outputs}
    empty, cut, kept = outputs[:3]
    (out / empty).write_bytes(b"")
    (out / cut).write_bytes(reference[cut][: len(reference[cut]) // 2])
    (out / ".tmca_partial-123-leftover.png").write_bytes(b"partial")
    mtime = os.path.getmtime(out / kept)
    before = data_hashes(root)
    p = run([str(c) for c in cmd + ["--continue_prediction"]], clean_env(root))
    for f in (empty, cut):
        assert f[:-4] in p.stdout and (out / f).read_bytes() == reference[f]
    assert os.path.getmtime(out / kept) == mtime
    assert not (out / ".tmca_partial-123-leftover.png").exists()
    assert data_hashes(root) == before


def test_output_folder_equal_to_input_folder_is_refused(trained_tiny_model, tmp_path):
    root, folder, _, _ = trained_tiny_model
    inp = tmp_path / "imagesTs"
    shutil.copytree(os.path.join(folder, "imagesTs"), inp)
    before = tree_hashes(inp)
    p = cli(["nnUNetv2_predict_tmca", "-i", inp, "-o", str(inp) + "/", *PREDICT, "--reports",
             os.path.join(folder, "reports.json")], clean_env(root))
    assert_clean_failure(p, inp)
    assert tree_hashes(inp) == before
    assert sorted(os.listdir(inp)) == sorted(os.listdir(os.path.join(folder, "imagesTs")))


def test_inputs_are_validated_before_the_output_folder_is_created(trained_tiny_model, tmp_path):
    root, folder, _, _ = trained_tiny_model
    reports = json.load(open(os.path.join(folder, "reports.json")))
    case = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))[0]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in reports.items() if k != case}))
    p = cli(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", tmp_path / "o1", *PREDICT,
             "--reports", partial], clean_env(root))
    assert_clean_failure(p, partial, case)
    assert not (tmp_path / "o1").exists()
    (tmp_path / "empty_in").mkdir()
    p = cli(["nnUNetv2_predict_tmca", "-i", tmp_path / "empty_in", "-o", tmp_path / "o2", *PREDICT, "--no_text"],
            clean_env(root))
    assert_clean_failure(p, tmp_path / "empty_in")
    assert not (tmp_path / "o2").exists()


# -------------------------------------------------------------------------------------- 4 the cache
def test_cache_is_pruned_to_the_current_reports(tiny_encoder, tmp_path):
    from nnunetv2_tmca.mirroring.keys import mirrored_texts, with_mirrored_reports
    encoder = FrozenTextEncoder(str(tiny_encoder))
    reports = {"a": "two lesions in the upper left zone.", "b": "one lesion in the lower right zone.",
               "c": "no lesion."}
    ensure_text_encodings(with_mirrored_reports(reports, ["left_right"]), str(tmp_path), encoder=encoder,
                          logger=lambda m: None)  # as the trainer does with text-consistent mirroring
    withdrawn = {k: v for k, v in reports.items() if k != "a"}
    logs = []
    table = ensure_text_encodings(withdrawn, str(tmp_path), encoder=encoder, logger=logs.append,
                                  derived_texts=mirrored_texts)  # as nnUNetv2_tmca_encode_reports does
    stored = set(load_table(table.path).hashes)
    assert text_hash(reports["a"]) not in stored  # the withdrawn report ...
    assert text_hash("two lesions in the upper right zone.") not in stored  # ... and its mirrored version are gone
    assert text_hash(reports["b"]) in stored and text_hash("one lesion in the lower left zone.") in stored
    assert any("no longer in the reports removed" in m for m in logs)
    assert all(t not in " ".join(logs) for t in reports.values())


def test_unknown_ids_are_not_encoded_and_cli_counts_unique_texts(tiny_dataset, tiny_encoder, tmp_path):
    _, folder = tiny_dataset
    raw = copy_raw_dataset(folder, tmp_path)
    reports = json.load(open(raw / "reports.json"))
    test_case = sorted(f[:-9] for f in os.listdir(raw / "imagesTs"))[0]
    reports["ghost_0001"] = "a report of a case that is in no image folder."
    reports[test_case] = "a test case report that will be withdrawn."
    (raw / "reports.json").write_text(json.dumps(reports))
    env = clean_env(tmp_path)
    cmd = ["nnUNetv2_tmca_encode_reports", "-d", DATASET_ID, "--text_encoder", tiny_encoder, "--units", "report"]
    p = run([str(c) for c in cmd], env)
    known = {k: v for k, v in reports.items() if k != "ghost_0001"}
    unique = len({text_hash(t) for t in known.values()})
    assert f"{len(known)} cases with reports, {unique} unique texts" in p.stdout
    cache = next((tmp_path / "pre" / DATASET_NAME / "tmca_text_cache").glob("*.safetensors"))
    assert set(load_table(str(cache)).hashes) == {text_hash(t) for t in known.values()}
    del reports[test_case]  # a withdrawn consent
    (raw / "reports.json").write_text(json.dumps(reports))
    p = run([str(c) for c in cmd], env)
    assert text_hash("a test case report that will be withdrawn.") not in load_table(str(cache)).hashes
    assert f"{unique - 1} unique texts" in p.stdout


# ----------------------------------------------------------------------------------- 5 clean errors
def test_bad_reports_end_as_one_line_in_encode_predict_and_train(trained_tiny_model, tmp_path):
    root, folder, _, _ = trained_tiny_model
    bad_root = tmp_path / "bad"
    raw = copy_raw_dataset(folder, bad_root)
    reports = json.load(open(raw / "reports.json"))
    missing = sorted(f[:-9] for f in os.listdir(raw / "imagesTr"))[0]  # a training case
    del reports[missing]
    (raw / "reports.json").write_text(json.dumps(reports))
    env = clean_env(bad_root, nnUNet_preprocessed=str(root / "pre"), nnUNet_n_proc_DA="0")
    before = data_hashes(root)
    p = cli(["nnUNetv2_tmca_encode_reports", "-d", DATASET_ID], env)
    assert_clean_failure(p, raw / "reports.json", missing)
    p = cli(["nnUNetv2_tmca_encode_reports", "-d", DATASET_ID, "--verbose"], env)
    assert p.returncode == 1 and "Traceback" in p.stderr  # asked for
    p = cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    assert_clean_failure(p, raw / "reports.json", missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"case": "text",')
    p = cli(["nnUNetv2_predict_tmca", "-i", os.path.join(folder, "imagesTs"), "-o", tmp_path / "o", *PREDICT,
             "--reports", broken], clean_env(root))
    assert_clean_failure(p, broken)
    assert not (tmp_path / "o").exists()
    assert data_hashes(root) == before


def test_deeply_nested_json_names_the_file(tmp_path):
    path = tmp_path / "reports.json"
    path.write_text('{"case": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(ReportError, match=str(path)):
        load_reports(path)


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_length_must_be_at_least_two(tiny_dataset, value):
    root, _ = tiny_dataset
    before = data_hashes(root)
    p = cli(["nnUNetv2_tmca_encode_reports", "-d", DATASET_ID, "--max_length", value], clean_env(root))
    assert_clean_failure(p, "max_length", value)
    assert data_hashes(root) == before


def test_visualize_unknown_case_ids_are_an_error(trained_tiny_model, tmp_path):
    root, folder, _, _ = trained_tiny_model
    p = cli(["nnUNetv2_tmca_visualize", "-i", os.path.join(folder, "imagesTs"), "-o", tmp_path / "png", "-d",
             DATASET_ID, "-c", "2d", "-tr", TRAINER, "-device", "cpu", "--cases", "no_such_case"], clean_env(root))
    assert_clean_failure(p, "no_such_case")
    assert not (tmp_path / "png").exists()


def test_evaluate_does_not_write_into_the_raw_dataset(tiny_dataset):
    root, folder = tiny_dataset
    labels = os.path.join(folder, "labelsTs")
    before = data_hashes(root)
    p = cli(["nnUNetv2_tmca_evaluate", "-ref", labels, "-pred", labels], clean_env(root))
    assert p.returncode == 1 and labels in p.stderr and "-o" in p.stderr
    assert data_hashes(root) == before
