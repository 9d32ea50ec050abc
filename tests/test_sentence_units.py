"""Reports as radiologists write them (issue #14): sentences encoded whole, cached once per unique sentence,
pooled by sentence relevance; caps that warn with the case id; bad reports with clear outcomes."""
import hashlib
import json
import os

import numpy as np
import pytest
import torch

from nnunetv2_tmca.reports import ReportError, text_hash
from nnunetv2_tmca.synthetic.clinical import render_clinical_report
from nnunetv2_tmca.text.cache import ensure_text_encodings, load_table
from nnunetv2_tmca.text.layout import report_layouts
from nnunetv2_tmca.text.sentences import encoding_units, split_sentences
from nnunetv2_tmca.training.text_lookup import TextLookup

BOILERPLATE = "The cardiac silhouette is within normal limits. No pleural effusion."
REPORTS = {
    "a": f"FINDINGS: Nodular opacity in the left upper zone. {BOILERPLATE}\n\nIMPRESSION: Nodule, CT advised.",
    "b": f"FINDINGS: A calcified granuloma in the right lower zone. {BOILERPLATE}",
    "c": f"{BOILERPLATE} A small cyst in the left mid zone.",
}


@pytest.fixture(scope="module")
def encoder():
    from nnunetv2_tmca.text.encoder import FrozenTextEncoder
    return FrozenTextEncoder(None, max_length=128)


def words(text):
    return "".join(text.split())


def test_split_sentences_keeps_every_word_and_drops_only_punctuation():
    lesions = [{"side": "left", "zone": "upper", "radii": (3, 3), "target": True},
               {"side": "right", "zone": "lower", "radii": (3, 3), "target": False}]
    report, records = render_clinical_report(lesions, 5)
    sentences = split_sentences(report)
    assert len(sentences) >= 5
    assert words(" ".join(sentences)) == words(report)
    assert split_sentences("...\n!!!\n\n --- ;;") == []
    assert split_sentences("e.g. Dr. Smith saw a 2.5 cm mass. Next one.") == ["e.g. Dr. Smith saw a 2.5 cm mass.",
                                                                               "Next one."]
    cjk = split_sentences("肺部感染，左上肺。右下肺正常。😀 ok")
    assert len(cjk) == 3 and words("".join(cjk)) == words("肺部感染，左上肺。右下肺正常。😀 ok")
    assert split_sentences("FINDINGS\n\nOpacity left.") == ["FINDINGS", "Opacity left."]


def test_a_long_sentence_is_cut_into_pieces_without_losing_a_word(encoder):
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    pieces = encoding_units([sentence], encoder.tokenizer, 128)
    assert len(pieces) > 1 and words(" ".join(pieces)) == words(sentence)
    assert all(len(encoder.tokenizer(p)["input_ids"]) <= 128 for p in pieces)


def test_a_report_over_the_cap_is_a_warning_naming_the_case_and_counts_never_the_text(encoder, tmp_path):
    long_report = " ".join(["The opacity extends further down."] * 4000)  # 20,000 words, 4,000 sentences
    run_on = " ".join(["opacity"] * 20000)  # 20,000 words without a full stop: one sentence, cut into pieces
    logs = []
    layout, units = report_layouts({"case_long": long_report, "case_run_on": run_on, "case_ok": REPORTS["a"]},
                                   encoder.tokenizer, 128, 64, 512, logger=logs.append, source="/data/reports.json")
    warning = [m for m in logs if "case_long" in m]
    assert len(warning) == 1 and "4000 sentences" in warning[0] and "/data/reports.json" in warning[0]
    assert any("case_run_on" in m for m in logs) and "opacity" not in " ".join(logs).lower()
    for report in (long_report, run_on):
        kept = layout[text_hash(report)]
        assert 1 <= len(kept) <= 64
        assert sum(len(encoder.tokenizer(units[u])["input_ids"]) for u in kept) <= 512
    assert not any("case_ok" in m for m in logs)
    # through the cache: encoded, warned, and the cache of the other reports intact
    table = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, units="sentences", logger=lambda m: None)
    logs.clear()
    bigger = ensure_text_encodings({**REPORTS, "case_run_on": run_on}, str(tmp_path), encoder=encoder,
                                   units="sentences", logger=logs.append)
    assert set(table.hashes) <= set(bigger.hashes) and any("case_run_on" in m for m in logs)


def test_reports_in_other_scripts_are_split_and_encoded(encoder, tmp_path):
    reports = {"zh": "胸部X光片。左上肺野见结节影。右侧肋膈角清晰。",
               "emoji": "Opacity left upper zone 🙂. No effusion 👍", **REPORTS}
    table = ensure_text_encodings(reports, str(tmp_path), encoder=encoder, units="sentences", logger=lambda m: None)
    assert len(table.layout[text_hash(reports["zh"])]) == 3 and len(table.layout[text_hash(reports["emoji"])]) == 2
    assert np.isfinite(table.flat.astype(np.float32)).all()


def test_a_report_without_any_sentence_is_an_error_naming_file_and_case_and_the_cache_is_untouched(encoder, tmp_path):
    table = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, units="sentences", logger=lambda m: None)
    before = hashlib.sha256(open(table.path, "rb").read()).hexdigest()
    with pytest.raises(ReportError) as e:
        ensure_text_encodings({**REPORTS, "x7": " ... \n\n !!! "}, str(tmp_path), encoder=encoder, units="sentences",
                              logger=lambda m: None, source="/data/reports.json")
    assert "x7" in str(e.value) and "/data/reports.json" in str(e.value) and e.value.case_ids == ["x7"]
    assert hashlib.sha256(open(table.path, "rb").read()).hexdigest() == before


def test_each_unique_sentence_is_encoded_once_and_cached(encoder, tmp_path):
    logs = []
    table = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, units="sentences", logger=logs.append)
    sentences = {s for r in REPORTS.values() for s in split_sentences(r)}
    assert len(table.hashes) == len(sentences) < sum(len(split_sentences(r)) for r in REPORTS.values())
    assert table.path.endswith("__S128.safetensors")
    # the cached token states of a sentence are its own encoding (float16)
    s = split_sentences(REPORTS["b"])[0]
    row = table.hashes.index(text_hash(s))
    own = encoder.encode([s])
    n = int(own.mask[0].sum())
    assert table.lengths[row] == n
    np.testing.assert_allclose(table.flat[table.offsets[row]:table.offsets[row + 1]].astype(np.float32),
                               own.tokens[0, :n], atol=2e-3)
    logs.clear()
    again = ensure_text_encodings({**REPORTS, "d": "The cardiac silhouette is within normal limits. A new sentence."},
                                  str(tmp_path), encoder=encoder, units="sentences", logger=logs.append)
    assert "1 to encode" in logs[-1] and len(again.hashes) == len(sentences) + 1
    assert load_table(again.path).hashes == again.hashes


def test_lookup_assembles_each_report_from_its_sentences(encoder, tmp_path):
    table = ensure_text_encodings(REPORTS, str(tmp_path), encoder=encoder, units="sentences", logger=lambda m: None)
    lookup = TextLookup(table, REPORTS, torch.device("cpu"))
    batch = lookup.batch(["a", "c", "a"])
    sentences = split_sentences(REPORTS["a"])
    n = sum(int(encoder.encode([s]).mask[0].sum()) for s in sentences)
    assert batch["mask"][0].sum() == n and torch.equal(batch["tokens"][0], batch["tokens"][2])
    assert batch["sentence"][0].max() == len(sentences) - 1 and (batch["sentence"][0][~batch["mask"][0]] == -1).all()
    first = encoder.encode([sentences[0]])
    k = int(first.mask[0].sum())
    np.testing.assert_allclose(batch["tokens"][0, :k].numpy(), first.tokens[0, :k], atol=2e-3)


def test_caches_of_earlier_versions_s_and_new_ones_sentences():
    from nnunetv2_tmca.model.config import TMCAConfig
    old = TMCAConfig.from_dict({"text_dim": 384, "text_max_length": 64, "attention_grid_fraction": 0.25,
                                "align_features": "decoder"})
    assert old.text_units == "report" and old.text_max_length == 64
    new = TMCAConfig.from_dict(TMCAConfig(text_dim=384).to_dict())
    assert new.text_units == "sentences" and new.text_max_length == 128
    assert (new.report_max_sentences, new.report_max_tokens) == (128, 2048)
    # a 0.4-era (format 3) model without the cap written keeps the cap it was trained with
    v3 = {k: v for k, v in TMCAConfig(text_dim=384).to_dict().items()
          if k not in ("format", "report_max_sentences", "report_max_tokens")}
    assert (lambda c: (c.report_max_sentences, c.report_max_tokens))(TMCAConfig.from_dict(v3)) == (64, 512)


@pytest.mark.parametrize("layers", [1, 2])
def test_within_sentence_attention_equals_the_torch_encoder_with_a_per_head_mask(layers):
    """The adapter's encoder on lanes of whole sentences computes what it computes on the (B, L) rows under the
    (B * heads, L, L) sentence mask: outputs and gradients, padding and several sentences per row."""
    from nnunetv2_tmca.model.text_adapter import TextAdapter
    torch.manual_seed(0)
    adapter = TextAdapter(12, 16, layers, 4, 32, sentences=True, max_sentences=8)
    sentence = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2, 2, 2], [0, 0, 1, 1, 1, 1, -1, -1, -1, -1]])
    mask = sentence >= 0
    emb = torch.randn(2, 10, 16, requires_grad=True)
    blocked = ((sentence[:, :, None] != sentence[:, None, :]) & (sentence[:, :, None] >= 0)) | ~mask[:, None, :]
    blocked = blocked & ~torch.eye(10, dtype=torch.bool)
    expected = adapter.encoder(emb, mask=blocked.repeat_interleave(4, 0))
    got = adapter._contextualise(emb, mask, sentence)
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)
    weight = torch.randn_like(got) * mask[..., None]
    grads = [torch.autograd.grad((out * weight).sum(), [emb, *adapter.encoder.parameters()]) for out in (expected, got)]
    for e, g in zip(*grads):
        assert torch.allclose(g, e, atol=1e-5)


def _dense_sentence_adapter(adapter, tokens, mask, null, sentence):
    """The adapter as it was before the lane packing (0.4.0 development): every (B, L) slot projected, one
    nn.TransformerEncoder call under the per-head (B * h, L, L) sentence mask, padding zeroed afterwards."""
    from nnunetv2_tmca.model.text_adapter import position_in_sentence
    first = torch.zeros_like(mask)
    first[:, 0] = True
    mask = torch.where(null[:, None], first, mask)
    sentence = torch.where(null[:, None], torch.where(first, 0, -1), sentence)
    emb = adapter.proj(tokens) + adapter.position[0][position_in_sentence(sentence).clamp(max=adapter.max_length - 1)]
    null_emb = torch.zeros_like(emb)
    null_emb[:, :1] = adapter.null_token
    emb = torch.where(null[:, None, None], null_emb, emb)
    blocked = ((sentence[:, :, None] != sentence[:, None, :]) & (sentence[:, :, None] >= 0)) | ~mask[:, None, :]
    blocked = blocked & ~torch.eye(mask.shape[1], dtype=torch.bool)
    states = adapter.encoder(emb, mask=blocked.repeat_interleave(adapter.encoder.layers[0].self_attn.num_heads, 0))
    states = states * mask[..., None]
    pooled, relevance, bias = adapter.sentence_pooling(states, mask, sentence)
    return states, bias.masked_fill(~mask, float("-inf")), adapter.pool(pooled), relevance


def test_packed_adapter_equals_the_dense_one_with_null_rows_padding_and_several_lanes():
    """The adapter on valid tokens packed in lanes of whole sentences (sentence_packing.py) gives the outputs and
    parameter gradients of the dense (B, L) form: rows of different lengths, a null row, sentences longer than the
    minimum lane width and more sentences than fit in one lane."""
    from nnunetv2_tmca.model.sentence_packing import pack_sentences
    from nnunetv2_tmca.model.text_adapter import TextAdapter
    torch.manual_seed(0)
    adapter = TextAdapter(12, 16, 1, 4, 64, sentences=True, max_sentences=16)
    lengths = [[5, 37, 3, 12, 20], [9], [30, 30, 30, 2], [4, 4]]  # the third row alone needs several lanes
    total = max(sum(r) for r in lengths)
    sentence = torch.full((len(lengths), total), -1)
    for i, row in enumerate(lengths):
        sentence[i, :sum(row)] = torch.repeat_interleave(torch.arange(len(row)), torch.tensor(row))
    mask = sentence >= 0
    layout = pack_sentences(mask, sentence)
    assert layout.lanes > 3 and layout.width >= 37
    tokens = torch.randn(len(lengths), total, 12)
    null = torch.tensor([False, False, False, True])
    dense = _dense_sentence_adapter(adapter, tokens, mask, null, sentence)
    packed = adapter(tokens, mask, null, sentence=sentence)
    assert torch.equal(torch.isfinite(dense[1]), torch.isfinite(packed[1]))
    for d, p in zip(dense, packed):
        assert torch.allclose(torch.nan_to_num(d, neginf=0), torch.nan_to_num(p, neginf=0), atol=1e-5)
    weights = [torch.randn_like(t) for t in (dense[0], dense[2], dense[3])]
    grads = []
    for out in (dense, packed):
        loss = sum((t * w).sum() for t, w in zip((out[0], out[2], out[3]), weights)) \
            + (torch.nan_to_num(out[1], neginf=0) ** 2).sum()
        grads.append(torch.autograd.grad(loss, list(adapter.parameters())))
    for (name, _), d, p in zip(adapter.named_parameters(), *grads):
        assert torch.allclose(d, p, atol=1e-4), name


def test_identical_sentences_are_computed_once_with_the_same_values_and_gradients():
    """``token_row`` (a token's row in the text table) lets the adapter run each distinct sentence of a batch once:
    outputs and parameter gradients equal those of running every sentence; null rows are never shared, even when
    their token_row equals another row's."""
    from nnunetv2_tmca.model.text_adapter import TextAdapter
    torch.manual_seed(0)
    adapter = TextAdapter(12, 16, 1, 4, 64, sentences=True, max_sentences=16)
    units = [torch.randn(n, 12) for n in (5, 9, 3, 7)]  # the table's units (sentences)
    offsets = [0, 5, 14, 17, 24]
    reports = [[0, 1, 2], [1, 3, 1], [2, 0], [0, 1]]  # unit 1 twice in row 1; the last row will be null
    total = max(sum(len(units[u]) for u in r) for r in reports)
    tokens, sentence = torch.zeros(4, total, 12), torch.full((4, total), -1)
    token_row = torch.full((4, total), 99)
    for i, r in enumerate(reports):
        at = 0
        for k, u in enumerate(r):
            n = len(units[u])
            tokens[i, at:at + n], sentence[i, at:at + n] = units[u], k
            token_row[i, at:at + n] = torch.arange(offsets[u], offsets[u] + n)
            at += n
    mask = sentence >= 0
    null = torch.tensor([False, False, False, True])
    outs, grads = [], []
    for rows in (None, token_row):
        out = adapter(tokens, mask, null, sentence=sentence, token_row=rows)
        loss = sum((o.nan_to_num(neginf=0) * torch.linspace(-1, 1, o.numel()).reshape(o.shape)).sum() for o in out)
        outs.append(out)
        grads.append(torch.autograd.grad(loss, list(adapter.parameters())))
    for a, b in zip(*outs):
        assert torch.allclose(a.nan_to_num(neginf=0), b.nan_to_num(neginf=0), atol=1e-5)
    for (name, _), a, b in zip(adapter.named_parameters(), *grads):
        assert torch.allclose(a, b, atol=1e-4), name
    from nnunetv2_tmca.model.text_adapter import _first_occurrences
    valid = mask.reshape(-1).nonzero().squeeze(1)
    first, source = _first_occurrences(token_row, valid, torch.zeros(len(valid), dtype=torch.bool))
    assert len(first) == sum(len(u) for u in units)  # each distinct sentence once
    assert torch.equal(token_row.reshape(-1)[valid][first][source], token_row.reshape(-1)[valid])


def test_sentence_model_ignores_sentence_order_and_equals_the_report_model_on_one_sentence():
    """Sections come in any order: the output does not depend on the order of the sentences. A one-sentence
    report gives what the whole-report model gives with the same weights (relevance 1, no attention bias)."""
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    from helpers import make_unet
    from nnunetv2_tmca.model.config import TMCAConfig
    from nnunetv2_tmca.model.network import build_tmca_network
    torch.manual_seed(0)
    common = dict(text_dim=32, model_dim=16, attention_dim=8, attention_heads=2, align_dim=8, text_max_length=16)
    net = build_tmca_network(make_unet(PlainConvUNet, 2), TMCAConfig(**common))
    for name, p in net.named_parameters():
        if "gate" in name or "to_gamma_beta" in name or "output_fusion" in name:
            torch.nn.init.normal_(p, std=0.5)
    whole = build_tmca_network(make_unet(PlainConvUNet, 2), TMCAConfig(**common, text_units="report"))
    missing, unexpected = whole.load_state_dict(net.state_dict(), strict=False)
    assert not missing and all("sentence_pooling" in k for k in unexpected)
    net.eval(), whole.eval()
    x, tokens = torch.randn(2, 1, 32, 32), torch.randn(2, 9, 32)
    mask = torch.ones(2, 9, dtype=torch.bool)
    with torch.no_grad():
        one = net(x, {"tokens": tokens, "mask": mask, "sentence": torch.zeros(2, 9, dtype=torch.long)})
        assert torch.allclose(one[0], whole(x, {"tokens": tokens, "mask": mask})[0], atol=1e-5)
        sentence = torch.tensor([[0] * 4 + [1] * 5] * 2)
        swapped = torch.cat([tokens[:, 4:], tokens[:, :4]], 1)
        a = net(x, {"tokens": tokens, "mask": mask, "sentence": sentence})[0]
        b = net(x, {"tokens": swapped, "mask": mask, "sentence": torch.tensor([[0] * 5 + [1] * 4] * 2)})[0]
        assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, one[0], atol=1e-3)
        relevance = net.sentence_relevance({"tokens": tokens, "mask": mask, "sentence": sentence})
        assert torch.allclose(relevance.sum(1), torch.ones(2)) and (relevance[:, 2:] == 0).all()


def test_counterfactual_reports_on_a_trained_model(trained_tiny_model):
    """One call, one image, several reports: deleting the target sentence or moving the target elsewhere changes
    the prediction; the same report gives the same prediction; per-sentence relevance and deletion effects."""
    root, folder, model, _ = trained_tiny_model
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    os.environ.update({k: str(root / v) for k, v in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "pre"),
                                                     ("nnUNet_results", "res"))})
    reports = json.load(open(os.path.join(folder, "reports.json")))
    case = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))[0]
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    assert predictor.tmca_network.config.text_units == "sentences"
    img, props = NaturalImage2DIO().read_images([os.path.join(folder, "imagesTs", case + "_0000.png")])
    true = reports[case]
    target_sentence = "Opacity in the left upper zone."
    edited = [f"Heart size is normal. {target_sentence} No effusion on the right.",
              "Heart size is normal. No effusion on the right.",
              "Heart size is normal. Opacity in the right lower zone. No effusion on the right."]
    outputs = predictor.predict_reports(img, dict(props), [true, true] + edited)
    assert len(outputs) == 5 and np.array_equal(outputs[0], outputs[1])
    single = predictor.predict_single_npy_array(img, dict(props), report=edited[0])
    assert np.array_equal(single, outputs[2])
    probs = [predictor.predict_single_npy_array(img, dict(props), report=r, save_or_return_probabilities=True)[1]
             for r in edited]
    assert np.abs(probs[0] - probs[1]).max() > 1e-4  # target sentence deleted
    assert np.abs(probs[0] - probs[2]).max() > 1e-4  # target moved
    relevance = predictor.sentence_relevance(edited[0])
    assert len(relevance) == 3 and abs(sum(relevance) - 1) < 1e-5
    effects = predictor.sentence_effects(img, dict(props), edited[0])
    assert len(effects) == 3 and all(0 <= e <= 1 for e in effects)


def test_visualize_shows_sentence_relevance_without_the_text(trained_tiny_model, tmp_path):
    """nnUNetv2_tmca_visualize: relevance bars and CASE_sentences.json (index, relevance, effect); the sentence
    texts only with --show_report."""
    root, folder, model, _ = trained_tiny_model
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    from nnunetv2_tmca.inference.visualize import visualize_cases
    os.environ.update({k: str(root / v) for k, v in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "pre"),
                                                     ("nnUNet_results", "res"))})
    case = sorted(f[:-9] for f in os.listdir(os.path.join(folder, "imagesTs")))[0]
    reports = tmp_path / "reports.json"
    reports.write_text(json.dumps({case: "Heart size is normal. Opacity in the left upper zone. No effusion."}))
    predictor = nnUNetPredictorTMCA(device=torch.device("cpu"), allow_tqdm=False, reports=str(reports))
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    for show in (False, True):
        out = tmp_path / f"png_{show}"
        written = visualize_cases(predictor, os.path.join(folder, "imagesTs"), str(out), cases=[case],
                                  show_report=show, sentence_effects=True)
        assert [os.path.basename(w) for w in written] == [case + ".png"]
        rows = json.loads((out / f"{case}_sentences.json").read_text())
        assert [r["sentence"] for r in rows] == [0, 1, 2] and abs(sum(r["relevance"] for r in rows) - 1) < 1e-3
        assert all(0 <= r["effect"] <= 1 for r in rows)
        assert ("text" in rows[1]) == show and (not show or rows[1]["text"] == "Opacity in the left upper zone.")


def test_sentence_pooling_equals_the_per_sentence_loop():
    """h_k = mean of sentence k's tokens, r = softmax(q^T W h / sqrt d), u = sum r_k h_k, b_l = log r_{s_l}: computed
    by hand, row by row and sentence by sentence, for rows of different lengths and sentence counts."""
    import math

    from nnunetv2_tmca.model.sentence_pooling import SentencePooling
    torch.manual_seed(0)
    pool = SentencePooling(8, max_sentences=6)
    lengths = [[3, 1, 4], [2], [5, 2, 2, 1, 3, 2]]
    width = max(sum(n) for n in lengths) + 2
    states = torch.randn(3, width, 8)
    sentence = torch.full((3, width), -1)
    for r, ns in enumerate(lengths):
        sentence[r, :sum(ns)] = torch.repeat_interleave(torch.arange(len(ns)), torch.tensor(ns))
    mask = sentence >= 0
    pooled, relevance, bias = pool(states, mask, sentence)
    for r, ns in enumerate(lengths):
        h = torch.stack([states[r][sentence[r] == k].mean(0) for k in range(len(ns))])
        r_k = torch.softmax(pool.key(h) @ pool.query / math.sqrt(8), 0)
        torch.testing.assert_close(relevance[r, :len(ns)], r_k)
        assert (relevance[r, len(ns):] == 0).all()
        torch.testing.assert_close(pooled[r], (r_k[:, None] * h).sum(0))
        torch.testing.assert_close(bias[r, :sum(ns)], torch.log(r_k)[sentence[r, :sum(ns)]])
        assert (bias[r, sum(ns):] == 0).all()
