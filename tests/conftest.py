"""Shared fixtures: a tiny synthetic report-guided dataset, planned, and a TMCA model trained for a few iterations.

Every nnU-Net command runs in a subprocess whose environment holds only PATH, HOME and nnU-Net's
variables, as a user's fresh shell would: the stock CLIs must find the TMCA trainers on their own.
"""
import os
import subprocess

import pytest

DATASET_ID = 997
DATASET_NAME = f"Dataset{DATASET_ID}_TMCASynthetic"


def clean_env(root, **extra):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
           "nnUNet_results": str(root / "res"), "nnUNet_def_n_proc": "1", "PYTHONUNBUFFERED": "1",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "2"}
    for k in ("VIRTUAL_ENV", "PYENV_VERSION", "PYENV_ROOT", "LANG"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def run(cmd, env, timeout=900):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("nnunet")
    from nnunetv2_tmca.dataset_conversion.synthetic import make_synthetic_dataset
    folder = make_synthetic_dataset(str(root / "raw"), DATASET_ID, num_train=16, num_test=4, size=32, seed=3)
    run(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1"],
        clean_env(root))
    return root, folder


@pytest.fixture(scope="session")
def trained_tiny_model(tiny_dataset):
    root, folder = tiny_dataset
    p = run(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"],
            clean_env(root, nnUNet_n_proc_DA="0"))
    model = root / "res" / DATASET_NAME / "nnUNetTrainerTMCA_debug__nnUNetPlans__2d"
    return root, folder, model, p.stdout + p.stderr
