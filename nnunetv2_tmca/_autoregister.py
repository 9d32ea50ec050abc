"""Start-up hook that lets the stock nnU-Net CLIs find the TMCA trainers.

nnU-Net looks trainers up by name in its own trainer folder and then in every folder
listed in the environment variable ``nnUNet_extTrainer`` (os.pathsep separated). This
module, imported at interpreter start-up by ``nnunetv2_tmca_autoregister.pth``, appends
``nnunetv2_tmca/ext_trainers`` to that variable, keeping whatever the user set there.

Switch it off with ``nnUNet_tmca_autoregister=0`` (or remove the .pth file from
site-packages). It must never raise and never import anything heavy.
"""
import os

ENV_SWITCH = "nnUNet_tmca_autoregister"
EXT_TRAINER_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ext_trainers")


def autoregister_enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def register_ext_trainer_folder() -> bool:
    """Append our trainer folder to ``nnUNet_extTrainer``; returns True if it is listed afterwards."""
    if not autoregister_enabled():
        return False
    current = os.environ.get("nnUNet_extTrainer", "")
    parts = [p for p in current.split(os.pathsep) if p.strip()]
    if EXT_TRAINER_FOLDER not in parts:
        os.environ["nnUNet_extTrainer"] = os.pathsep.join(parts + [EXT_TRAINER_FOLDER])
    return True


try:
    register_ext_trainer_folder()
except Exception:  # a start-up hook must never break the interpreter
    pass
