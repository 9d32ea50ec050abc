"""Shared fixtures: a tiny synthetic report-guided dataset, planned, and a TMCA model trained for a few iterations.

Both are session-scoped: one planning and one training serve every test file. A test that changes files of the
dataset restores them, or works on a copy (``helpers.copy_planned_dataset``). Every test that needs the dataset is
marked ``slow`` here (planning and training run in subprocesses); ``python -m pytest -q -m "not slow" tests`` skips
them.
"""
import pytest

from helpers import DATASET_ID, DATASET_NAME, clean_env, run

SLOW_FIXTURES = {"tiny_dataset", "trained_tiny_model"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """(root, raw dataset folder): 16 training and 4 test cases of 32x32, planned and preprocessed (2d)."""
    root = tmp_path_factory.mktemp("nnunet")
    from nnunetv2_tmca.synthetic.dataset import make_synthetic_dataset
    folder = make_synthetic_dataset(str(root / "raw"), DATASET_ID, num_train=16, num_test=4, size=32, seed=3)
    run(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1"],
        clean_env(root))
    return root, folder


@pytest.fixture(scope="session")
def trained_tiny_model(tiny_dataset):
    """(root, raw folder, model folder, training output): nnUNetTrainerTMCA_debug, fold 0, on ``tiny_dataset``."""
    root, folder = tiny_dataset
    p = run(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu"],
            clean_env(root, nnUNet_n_proc_DA="0"))
    model = root / "res" / DATASET_NAME / "nnUNetTrainerTMCA_debug__nnUNetPlans__2d"
    return root, folder, model, p.stdout + p.stderr

