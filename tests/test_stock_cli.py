"""The stock nnU-Net CLIs find and run nnUNetTrainerTMCA in a fresh environment (no copied files, no extra
variables)."""
import glob
import json
import os
import subprocess
import sys

from helpers import DATASET_ID, clean_env, run


def test_discovery_from_clean_subprocess_keeps_user_ext_trainer(tmp_path):
    user_dir = tmp_path / "my_trainers"
    user_dir.mkdir()
    code = ("import os; from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as f;"
            "c = f('nnUNetTrainerTMCA'); print(c.__module__); print(os.environ['nnUNet_extTrainer'])")
    p = run([sys.executable, "-c", code], clean_env(tmp_path, nnUNet_extTrainer=str(user_dir)))
    module, ext = p.stdout.strip().splitlines()[-2:]
    assert module == "nnunetv2_tmca.training.nnUNetTrainerTMCA"
    parts = ext.split(os.pathsep)
    assert parts[0] == str(user_dir) and parts[-1].endswith(os.path.join("nnunetv2_tmca", "ext_trainers"))
    # nothing was copied into nnunetv2
    import nnunetv2
    assert not glob.glob(os.path.join(os.path.dirname(nnunetv2.__file__), "**", "*TMCA*"), recursive=True)


def test_every_trainer_variant_is_found_by_name():
    """Each trainer class defined in the package is reachable through nnU-Net's lookup (-tr NAME)."""
    import importlib
    import inspect
    import pkgutil

    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    import nnunetv2_tmca.training as training
    defined = set()
    for info in pkgutil.walk_packages(training.__path__, training.__name__ + "."):
        module = importlib.import_module(info.name)
        defined |= {name for name, obj in vars(module).items() if inspect.isclass(obj) and
                    issubclass(obj, nnUNetTrainer) and obj.__module__ == module.__name__}
    assert {"nnUNetTrainerTMCA", "nnUNetTrainerTMCA_fullGrid", "nnUNetTrainerTMCA_noMirror"} <= defined
    exported = set(training.__all__)
    assert defined <= exported  # the list is derived: nothing defined is left out
    budgets = ("debug", "demo", "synth", "cpu")
    assert {f"{base}_{budget}" for base in defined | {"nnUNetTrainer"} for budget in budgets} <= exported
    for name in sorted(exported):
        assert recursive_find_trainer_class_by_name(name).__name__ == name, name


def test_autoregistration_can_be_switched_off(tmp_path):
    code = "import os; print(os.environ.get('nnUNet_extTrainer', 'unset'))"
    p = run([sys.executable, "-c", code], clean_env(tmp_path, nnUNet_tmca_autoregister="0"))
    assert p.stdout.strip() == "unset"


def test_stock_train_logs_text_side_without_report_text(trained_tiny_model):
    root, folder, model, output = trained_tiny_model
    reports = json.load(open(os.path.join(folder, "reports.json")))
    log = open(glob.glob(str(model / "fold_0" / "training_log_*.txt"))[0]).read()
    assert "Text encoder: default" in log
    assert "16 training cases" in log and "unique reports" in log and "unique sentences" in log
    assert os.path.join("pre", f"Dataset{DATASET_ID}_TMCASynthetic", "tmca_text_cache") in log
    for text in reports.values():
        assert text not in log and text not in output
    # the encoder choice and network settings travel with the model folder
    plans = json.load(open(model / "plans.json"))
    assert plans["configurations"]["2d"]["tmca"]["text_encoder"] == "default"
    assert os.path.isfile(model / "fold_0" / "checkpoint_final.pth")
    assert os.path.isfile(model / "fold_0" / "validation" / "summary.json")
    # the cache never lands in the plans' data folder (nnU-Net's dataset class expects case files only)
    data_folder = root / "pre" / f"Dataset{DATASET_ID}_TMCASynthetic" / "nnUNetPlans_2d"
    assert not [f for f in os.listdir(data_folder) if "tmca" in f or f.endswith(".safetensors")]


def test_training_fails_clearly_without_reports(tiny_dataset, tmp_path):
    root, folder = tiny_dataset
    os.rename(os.path.join(folder, "reports.json"), os.path.join(folder, "reports.json.bak"))
    try:
        p = subprocess.run(["nnUNetv2_train", str(DATASET_ID), "2d", "1", "-tr", "nnUNetTrainerTMCA_debug", "-device",
                            "cpu"], env=clean_env(root, nnUNet_n_proc_DA="0"), capture_output=True, text=True,
                           timeout=300)
    finally:
        os.rename(os.path.join(folder, "reports.json.bak"), os.path.join(folder, "reports.json"))
    assert p.returncode != 0
    assert "reports.json" in p.stderr


def test_resume_with_c_loads_checkpoint_with_both_optimizers(trained_tiny_model):
    root, folder, model, _ = trained_tiny_model
    import torch
    ckpt = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert set(ckpt["optimizer_state"]) == {"sgd", "adamw"}  # AdamW for the text side, SGD for the U-Net
    assert ckpt["trainer_name"] == "nnUNetTrainerTMCA_debug"
    p = run(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", "nnUNetTrainerTMCA_debug", "-device", "cpu", "--c"],
            clean_env(root, nnUNet_n_proc_DA="0"))
    assert "Traceback" not in p.stderr
    assert os.path.isfile(model / "fold_0" / "validation" / "summary.json")
