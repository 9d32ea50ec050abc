"""Plans of older versions -> the current TMCA settings: one ``migrate_plans`` and its version table.

The TMCA settings in a model's plans carry ``format``. Plans written before that key existed are
recognised by the keys they hold (``unversioned_format``). ``MIGRATIONS[n]`` turns format-n settings
into format n + 1, each step filling in what the older model was and dropping what it wrote that
no longer exists; steps run in order up to ``PLANS_FORMAT``. Plans too old to migrate, or with a
setting this version cannot build, get an error that says to retrain. CHANGELOG.md tells what
each version changed.

| format | written by | step to the next format |
|---|---|---|
| 0 | development models before 0.1.0 (attention readout "projected") | none: retrain |
| 1 | 0.1.0 - 0.2.0 | a report was one text (``text_units = "report"``), cut at 64 tokens |
| 2 | 0.3.0 | the alignment heads read the decoder features (``align_features = "decoder"``) |
| 3 | 0.4.0 - 0.5.0 dev. | where not written: ``null_bypass`` False, ``text_mirroring`` "off", cap 64 / 512; |
|   |                    | removed switches neutral |
| 4 | this version | current |
"""
from __future__ import annotations

PLANS_FORMAT = 4

RETRAIN = "retrain the model with this version of nnunetv2_tmca (CHANGELOG.md lists what changed)"
# settings of format 3 that this version no longer builds: the value a model may hold to migrate
REMOVED_SWITCHES = {"detach_trunk": False, "align_encoder_gradient": True, "extra": {}}


def unversioned_format(d: dict) -> int:
    """The format of settings without a ``format`` key: read from the keys they hold. Settings without
    ``text_dim`` were not read from plans (code or tests pass a few overrides): the current format."""
    if "text_dim" not in d:
        return PLANS_FORMAT
    if "attention_grid_fraction" not in d and d.get("attention_readout") is None:
        return 0
    if "text_units" not in d:
        return 1
    if "align_features" not in d:
        return 2
    return 3


def _from_0(d: dict) -> dict:
    raise ValueError(f"These plans come from a development model older than nnunetv2_tmca 0.1.0; {RETRAIN}.")


def _from_1(d: dict) -> dict:
    d["text_units"] = "report"
    d.setdefault("text_max_length", 64)
    return d


def _from_2(d: dict) -> dict:
    d["align_features"] = "decoder"
    return d


def _from_3(d: dict) -> dict:
    d.setdefault("null_bypass", False)
    d.setdefault("report_max_sentences", 64)  # the cap of then
    d.setdefault("report_max_tokens", 512)
    d.setdefault("text_mirroring", "off")
    for key, neutral in REMOVED_SWITCHES.items():
        if key in d and d.pop(key) != neutral:
            raise ValueError(f"These plans use the research setting {key!r}, which this version no longer builds; "
                             f"{RETRAIN}.")
    if d.get("align_features") == "skip_global":
        raise ValueError(f"These plans use align_features 'skip_global', which this version no longer builds; "
                         f"{RETRAIN}.")
    return d


MIGRATIONS = {0: _from_0, 1: _from_1, 2: _from_2, 3: _from_3}


def migrate_plans(d: dict) -> dict:
    """The TMCA settings ``d`` (a copy is changed) in format ``PLANS_FORMAT``."""
    d = dict(d)
    readout = d.pop("attention_readout", None)  # 0.1.0 - 0.2.0 wrote the one readout they had
    if readout not in (None, "mixture"):
        raise ValueError(f"These plans use the attention readout {readout!r}, which this version cannot build; "
                         f"{RETRAIN}.")
    version = d.get("format", unversioned_format({**d, "attention_readout": readout}))
    if not isinstance(version, int) or version > PLANS_FORMAT:
        raise ValueError(f"These plans have TMCA settings format {version!r}; this nnunetv2_tmca reads formats up to "
                         f"{PLANS_FORMAT}: upgrade nnunetv2_tmca.")
    while version < PLANS_FORMAT:
        d = MIGRATIONS[version](d)
        version += 1
    d["format"] = PLANS_FORMAT
    return d
