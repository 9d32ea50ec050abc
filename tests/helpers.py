"""Helpers the tests import (``from helpers import ...``): the tiny dataset's id and name, a clean subprocess
environment, a subprocess runner that fails with the command's output tail, a loader of benchmark scripts, a copy
of a planned dataset, and tiny networks and texts.

Every nnU-Net command runs in a subprocess whose environment holds only PATH, HOME and nnU-Net's variables, as a
user's fresh shell would: the stock CLIs must find the TMCA trainers on their own.
"""
import os
import shutil
import subprocess

import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet
from torch import nn

from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.text.cache import CACHE_SUBFOLDER

DATASET_ID = 997
DATASET_NAME = f"Dataset{DATASET_ID}_TMCASynthetic"


def clean_env(root, **extra):
    """Environment of a fresh shell with nnU-Net's folders under ``root`` (raw, pre, res), plus ``extra``."""
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
    """Runs ``cmd``; raises AssertionError with the last 4000 characters of stdout and stderr if it fails."""
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def load_benchmark_script(name):
    """The module of ``benchmarks/<name>.py``, loaded from its path (the scripts are not a package)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_planned_dataset(root, dest, dataset_name=DATASET_NAME):
    """Copies ``root``'s raw and preprocessed dataset to ``dest`` as planning left them: without what training adds
    there (``splits_final.json``, the text cache). Returns the raw dataset folder of the copy."""
    shutil.copytree(root / "pre" / dataset_name, dest / "pre" / dataset_name,
                    ignore=shutil.ignore_patterns("splits_final.json", CACHE_SUBFOLDER))
    return str(shutil.copytree(root / "raw" / dataset_name, dest / "raw" / dataset_name))


# ------------------------------------------------------------------------------ tiny networks (in-process tests)
CONFIG = TMCAConfig(text_dim=32, model_dim=16, attention_dim=8, attention_heads=2, align_dim=8)


def make_unet(cls, dim, stages=4, deep_supervision=True):
    """A planned-looking U-Net (PlainConvUNet or ResidualEncoderUNet) with 8 * 2**i features at stage i."""
    conv = nn.Conv2d if dim == 2 else nn.Conv3d
    norm = nn.InstanceNorm2d if dim == 2 else nn.InstanceNorm3d
    feats = [8 * 2 ** i for i in range(stages)]
    common = dict(input_channels=1, n_stages=stages, features_per_stage=feats, conv_op=conv, kernel_sizes=3,
                  strides=[1] + [2] * (stages - 1), num_classes=2, n_conv_per_stage_decoder=1, conv_bias=True,
                  norm_op=norm, norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=nn.LeakyReLU,
                  nonlin_kwargs={"inplace": True}, deep_supervision=deep_supervision)
    if cls is PlainConvUNet:
        return PlainConvUNet(n_conv_per_stage=2, **common)
    return ResidualEncoderUNet(n_blocks_per_stage=[1] * stages, **common)


def random_text(b, length=7, dim=32, seed=0):
    """Token states, mask and sentence index of ``b`` random reports; report 0 has 5 tokens, the others ``length``."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 5:] = False
    # two sentences per report (the second starts at token 3): the sentence relevance is not constant
    sentence = torch.where(mask, (torch.arange(length) >= 3).long().expand(b, -1), -1)
    return {"tokens": torch.randn(b, length, dim, generator=g), "mask": mask, "sentence": sentence}


def open_gates(net):
    """Random gates and FiLM projections, so that the text changes the output (they start at zero)."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gate") or "to_gamma_beta" in name:
                p.normal_(0, 0.5)
