"""Checkpoint loading that runs no code from the file: model folders are untrusted input.

nnU-Net loads checkpoints with ``torch.load(..., weights_only=False)``, i.e. plain unpickling:
a crafted ``fold_0/checkpoint_final.pth`` runs whatever its pickle says. Here checkpoints are
loaded with ``weights_only=True`` and an allow-list of exactly the extra types nnU-Net's own
checkpoints hold (numpy scalars and their dtypes in ``logging`` and ``_best_ema``; tensors,
``torch.device``, dicts, lists, tuples and numbers are allowed by torch already). A file that
needs more stops with :class:`UntrustedCheckpointError` naming the file and the first type it
asked for. For a trusted file, ``nnUNet_tmca_trust_checkpoints=1`` (or ``--trust_checkpoints``
of the plugin's CLIs) restores nnU-Net's behaviour.

nnU-Net itself calls ``torch.load`` inside ``nnUNetPredictor.initialize_from_trained_model_folder``,
``nnUNetTrainer.load_checkpoint`` and ``load_pretrained_weights``; :func:`safe_torch_load` makes
those calls safe for the duration of a ``with`` block, so the plugin reuses nnU-Net's code.
No torch import at module level (cheap to import from CLIs).
"""
from __future__ import annotations

import contextlib
import functools
import os
import pickle
import re

from nnunetv2_tmca.errors import TMCAUserError

ENV_TRUST_CHECKPOINTS = "nnUNet_tmca_trust_checkpoints"
_TRUE = ("1", "true", "t", "yes", "on")


class CheckpointError(TMCAUserError, RuntimeError):
    """A checkpoint file cannot be used. ``path`` names it."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class UntrustedCheckpointError(CheckpointError):
    """The checkpoint holds Python objects whose unpickling could run code; it was not loaded."""


def checkpoints_trusted() -> bool:
    """True when ``$nnUNet_tmca_trust_checkpoints`` says every checkpoint may be unpickled freely."""
    return os.environ.get(ENV_TRUST_CHECKPOINTS, "0").strip().lower() in _TRUE


def trust_checkpoints() -> None:
    """Opt in for this process (and its children): what ``--trust_checkpoints`` does."""
    os.environ[ENV_TRUST_CHECKPOINTS] = "1"


@functools.lru_cache(maxsize=None)
def nnunet_checkpoint_safe_globals() -> tuple:
    """The non-torch types of an nnU-Net checkpoint: numpy's scalar reconstructor and the dtypes of
    boolean, integer and floating point scalars (no object, string or void dtypes, no arrays)."""
    import numpy as np
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    kinds = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
             np.float16, np.float32, np.float64)
    return (scalar, np.dtype, *sorted({type(np.dtype(k)) for k in kinds}, key=lambda t: t.__name__))


def _refused_what(error: Exception) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    if found:
        return f"the Python object {found.group(1)}"
    found = re.search(r"(Unsupported operand \d+|Unsupported class [\w.]+)", str(error))
    return f"pickle content the safe loader refuses ({found.group(1) if found else 'see torch.load'})"


def load_checkpoint(path, map_location=None, _load=None):
    """``torch.load`` of ``path`` without running code from it (unless checkpoints are trusted).

    Raises UntrustedCheckpointError (the file asks for a type outside the allow-list) or
    CheckpointError (the file is cut or not a PyTorch checkpoint); FileNotFoundError as torch.
    """
    import torch

    load = _load or torch.load
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    if checkpoints_trusted():
        return load(path, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(list(nnunet_checkpoint_safe_globals())):
            return load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except pickle.UnpicklingError as e:
        raise UntrustedCheckpointError(
            f"Checkpoint {name} was not loaded: it needs {_refused_what(e)}, which nnU-Net checkpoints "
            f"do not contain and whose unpickling could run code. Use checkpoints from sources you trust; if you "
            f"trust this file, pass --trust_checkpoints (nnUNetv2_predict_tmca) or set "
            f"{ENV_TRUST_CHECKPOINTS}=1.", name) from None
    except Exception as e:  # zip/pickle reader errors of cut or foreign files
        raise CheckpointError(f"Checkpoint {name} cannot be read ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'no details'}); it is cut or not a PyTorch "
                              f"checkpoint. Copy it again or retrain this fold.", name) from None


@contextlib.contextmanager
def safe_torch_load():
    """Within the block every ``torch.load(...)`` goes through :func:`load_checkpoint` (its
    ``weights_only`` argument is ignored), so nnU-Net's own loaders cannot unpickle code."""
    import torch

    original = torch.load

    def guarded(f, map_location=None, *args, **kwargs):
        return load_checkpoint(f, map_location=map_location, _load=original)

    torch.load = guarded
    try:
        yield
    finally:
        torch.load = original


def guard_pretrained_weights_loading() -> None:
    """Make ``nnUNetv2_train -pretrained_weights FILE`` load FILE safely in this process.

    nnU-Net's ``run_training`` calls ``load_pretrained_weights`` right after the trainer's
    ``initialize()``; the TMCA trainer calls this from there. Idempotent; other nnU-Net code is
    untouched.
    """
    import nnunetv2.run.run_training as run_training

    original = run_training.load_pretrained_weights
    if getattr(original, "_tmca_safe", False):
        return

    @functools.wraps(original)
    def load_pretrained_weights(network, fname, verbose=False):
        with safe_torch_load():
            return original(network, fname, verbose)

    load_pretrained_weights._tmca_safe = True
    run_training.load_pretrained_weights = load_pretrained_weights
