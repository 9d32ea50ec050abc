"""TMCA network: identity at zero gates, text changes the output once gates open, gradients reach every new part."""
import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet
from torch import nn

from helpers import CONFIG, make_unet, open_gates, random_text
from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.model.network import build_tmca_network


@pytest.mark.parametrize("cls", [PlainConvUNet, ResidualEncoderUNet])
@pytest.mark.parametrize("dim,stages", [(2, 4), (2, 3), (3, 3)])
@pytest.mark.parametrize("deep_supervision", [True, False])
def test_zero_gates_equal_planned_unet(cls, dim, stages, deep_supervision):
    torch.manual_seed(0)
    unet = make_unet(cls, dim, stages, deep_supervision).eval()
    net = build_tmca_network(unet, CONFIG).eval()
    # the U-Net part keeps nnU-Net's parameter names
    unet_keys = set(unet.state_dict())
    assert unet_keys <= set(net.state_dict())
    x = torch.randn(2, 1, *([16] * dim))
    with torch.no_grad():
        ref = unet(x)
        for text in (None, random_text(2)):
            out = net(x, text=text)
            refs, outs = (ref, out) if deep_supervision else ([ref], [out])
            assert len(refs) == len(outs)
            for r, o in zip(refs, outs):
                assert r.shape == o.shape
                assert torch.equal(r, o)


def test_text_changes_output_once_gates_open_and_null_text_and_binding():
    torch.manual_seed(0)
    net = build_tmca_network(make_unet(PlainConvUNet, 2), CONFIG).eval()
    open_gates(net)
    net.decoder.deep_supervision = False
    x = torch.randn(1, 1, 16, 16)
    t1, t2 = random_text(1, seed=1), random_text(1, seed=2)
    with torch.no_grad():
        o1, o2, o_null = net(x, text=t1), net(x, text=t2), net(x)
        assert not torch.allclose(o1, o2)
        assert not torch.allclose(o1, o_null)
        # null flag == no text at all
        o_flag = net(x, text={**t1, "null": torch.tensor([True])})
        assert torch.allclose(o_flag, o_null, atol=1e-5)
        # bound text is used by forward(x) (nnU-Net's predictor), and expanded to the tile batch
        with net.bind_text(t2):
            assert torch.allclose(net(x), o2)
            assert net(x.repeat(3, 1, 1, 1)).shape[0] == 3
        assert torch.allclose(net(x), o_null)


@pytest.mark.parametrize("dim", [2, 3])
def test_gradients_reach_every_new_parameter(dim):
    torch.manual_seed(0)
    net = build_tmca_network(make_unet(PlainConvUNet, dim, 3), CONFIG)
    text = random_text(2)
    text["null"] = torch.tensor([False, True])
    seg, aux = net(torch.randn(2, 1, *([16] * dim)), text=text, return_alignment=True)
    assert set(aux["stages"]) == set(net.align_stages)
    loss = sum(o.square().mean() for o in seg) + sum(
        a["logits"].mean() + a["pixel_emb"].sum() * 1e-3 + a["text_emb"].sum() for a in aux["stages"].values())
    # first step: zero gates block gradients into attention/film internals, but the gates themselves get them
    loss.backward()
    for name, p in net.named_parameters():
        if name.startswith(("text_adapter", "lgte", "heads")) and (name.endswith("gate") or "to_gamma_beta" in name
                                                                   or name.startswith("heads")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # once the gates are open, every new parameter receives gradient
    net.zero_grad()
    open_gates(net)
    seg, aux = net(torch.randn(2, 1, *([16] * dim)), text=text, return_alignment=True)
    loss = sum(o.square().mean() for o in seg) + sum(a["logits"].mean() for a in aux["stages"].values())
    loss.backward()
    for name, p in net.named_parameters():
        if name.startswith(("text_adapter", "lgte", "heads")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_stage_specs():
    from nnunetv2_tmca.model.config import resolve_stages
    assert resolve_stages("all_but_lowest", 4) == [1, 2, 3]
    assert resolve_stages("highest", 4) == [3]
    assert resolve_stages([-1, 0], 4) == [0, 3]
    assert resolve_stages("none", 4) == []
    with pytest.raises(ValueError):
        resolve_stages([5], 4)
    with pytest.raises(ValueError):
        TMCAConfig.from_dict({"not_a_setting": 1})


def test_coordinate_features_cached_in_prediction_serve_training():
    torch.manual_seed(0)
    net = build_tmca_network(make_unet(PlainConvUNet, 2), CONFIG)
    x = torch.randn(2, 1, 16, 16)
    with torch.inference_mode():  # nnU-Net's predictor runs here and fills the coordinate cache
        net.eval()(x, text=random_text(2))
    net.train()
    seg, aux = net(x, text=random_text(2), return_alignment=True)
    (sum(o.mean() for o in seg) + sum(a["logits"].mean() for a in aux["stages"].values())).backward()
    assert all(p.grad is not None for p in net.heads.parameters() if p.requires_grad)


@pytest.mark.parametrize("dim", [2, 3])
def test_cross_attention_equals_explicit_softmax_and_ignores_masked_tokens(dim):
    from nnunetv2_tmca.model.lgte import CrossModalAttention
    torch.manual_seed(0)
    conv = torch.nn.Conv2d if dim == 2 else torch.nn.Conv3d
    att = CrossModalAttention(channels=6, text_dim=8, attention_dim=8, heads=2, conv_op=conv)
    torch.nn.init.normal_(att.gate)
    feat = torch.randn(3, 6, *([5] * dim))
    tokens = torch.randn(3, 7, 8)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] + [0] * 6], dtype=torch.bool)
    fused, out = att(feat, tokens, mask)
    # reference: softmax over the valid tokens of each sample, per head
    q = (att.q(feat) + att.q_position(feat)).reshape(3, 2, 4, -1)  # (B, h, dh, N)
    k, v = att.kv(tokens).reshape(3, 7, 2, 2, 4).permute(2, 0, 3, 1, 4)
    scores = torch.einsum("bhld,bhdn->bhln", k, q) / 2.0  # 1 / sqrt(head dim 4)
    scores = scores.masked_fill(~mask[:, None, :, None], float("-inf"))
    mixed = torch.einsum("bhld,bhln->bhdn", v, scores.softmax(dim=2)).reshape(3, 8, *feat.shape[2:])
    assert torch.allclose(out, mixed, atol=1e-5)
    assert torch.allclose(fused, feat + att.gate.reshape(1, 6, *([1] * dim)) * att.out(mixed), atol=1e-5)
    noisy = tokens.clone()
    noisy[~mask] = 1e3  # masked (padding) tokens must not matter
    assert torch.allclose(att(feat, noisy, mask)[1], out, atol=1e-5)


@pytest.mark.parametrize("multiple", [1, 8])
def test_sentence_bias_attention_equals_masked_softmax_with_gradients_and_keeps_no_attention_matrix(multiple):
    """The per-key bias (log sentence relevance) folded into the keys gives the same values and gradients as an
    additive float attn_mask, and autograd keeps no (B, h, N, L) attention matrix (which the math path does)."""
    from torch.nn import functional as F

    from nnunetv2_tmca.model.lgte import biased_attention
    torch.manual_seed(0)
    b, h, n, length, dh = 2, 2, 256, 64, 8
    q, k, v = (torch.randn(b, h, m, dh, requires_grad=True) for m in (n, length, length))
    logits = torch.randn(b, length, requires_grad=True)
    valid = torch.ones(b, length, dtype=torch.bool)
    valid[1, 25:] = False

    def saved_bytes(fn):
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn()
        return out, sum(seen.values())

    def reference():
        bias = logits.log_softmax(1).masked_fill(~valid, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias[:, None, None, :])

    def folded():
        return biased_attention(q, k, v, logits.log_softmax(1).masked_fill(~valid, float("-inf")), multiple)
    (ref, ref_bytes), (out, out_bytes) = saved_bytes(reference), saved_bytes(folded)
    grad = torch.randn_like(ref)
    expected = torch.autograd.grad(ref, (q, k, v, logits), grad)
    got = torch.autograd.grad(out, (q, k, v, logits), grad)
    assert torch.allclose(out, ref, atol=1e-5)
    for e, g in zip(expected, got):
        assert torch.allclose(g, e, atol=1e-4)
    attention_matrix = b * h * n * length * 4
    assert ref_bytes >= attention_matrix > out_bytes  # the fused kernel keeps no (B, h, N, L) matrix


@pytest.mark.parametrize("biased", [False, True])
def test_unpadded_keys_give_the_padded_attention_values_and_gradients(biased):
    """Per-row attention over the valid tokens (the CPU path) equals the one padded call, values and gradients
    (the sentence bias included), whatever the padding tokens hold."""
    from nnunetv2_tmca.model.lgte import CrossModalAttention
    torch.manual_seed(0)
    att = CrossModalAttention(channels=6, text_dim=8, attention_dim=8, heads=2)
    torch.nn.init.normal_(att.gate)
    lengths = [7, 3, 1, 5]
    mask = torch.arange(7)[None, :] < torch.tensor(lengths)[:, None]
    tokens = torch.randn(4, 7, 8).masked_fill(~mask[..., None], 50.0).requires_grad_()
    logits = torch.randn(4, 7, requires_grad=True)
    feat = torch.randn(4, 6, 8, 8, requires_grad=True)

    def run(padded):
        att.padded_keys = padded
        key_mask = logits.log_softmax(1).masked_fill(~mask, float("-inf")) if biased else mask
        fused, mixed = att(feat, tokens, key_mask, (2, 2))
        grads = torch.autograd.grad((fused * fused).sum() + mixed.sum(), [feat, tokens, logits, *att.parameters()],
                                    allow_unused=True)
        return fused, mixed, grads
    (f1, m1, g1), (f2, m2, g2) = run(True), run(False)
    assert att.unpadded_keys(torch.zeros(1))
    assert torch.allclose(f1, f2, atol=1e-5) and torch.allclose(m1, m2, atol=1e-5)
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=1e-4)
    assert g2[1][~mask].abs().max() == 0  # padding tokens get no gradient


def test_query_pooling_reaches_a_quarter_of_the_patch():
    from nnunetv2_tmca.model.attention_grid import query_pooling
    assert query_pooling((32, 32), (64, 64), 0.25) == (2, 2)  # 32 -> 16 = 64 / 4
    assert query_pooling((16, 16), (64, 64), 0.25) is None
    assert query_pooling((112, 112), (224, 224), 0.25) == (2, 2)
    assert query_pooling((224, 224), (224, 224), 0.25) == (4, 4)
    assert query_pooling((56, 56), (224, 224), 0.25) is None
    assert query_pooling((10, 64, 64), (20, 128, 128), 0.25) == (2, 2, 2)
    assert query_pooling((5, 64, 64), (20, 128, 128), 0.25) == (1, 2, 2)  # odd size: that axis is not pooled
    assert query_pooling((12, 48), (12, 48), 0.25) == (4, 4)  # 12 -> 3 = 12 / 4
    assert query_pooling((6, 40), (12, 80), 0.25) == (2, 2)  # 6 / 2 = 3 is exactly 12 / 4
    assert query_pooling((32, 32), (64, 64), None) is None


@pytest.mark.parametrize("pool,shape", [((2, 2), (4, 6)), ((1, 2, 4), (3, 2, 2)), ((4, 4), (2, 3))])
def test_block_pooling_and_upsampling_equal_torch_ops_with_their_gradients(pool, shape):
    from nnunetv2_tmca.model.attention_grid import add_block_upsampled, avg_pool_grid
    torch.manual_seed(0)
    coarse = torch.randn(2, 3, *shape, dtype=torch.float64, requires_grad=True)
    fine = torch.randn(2, 3, *[s * k for s, k in zip(shape, pool)], dtype=torch.float64, requires_grad=True)
    avg = nn.functional.avg_pool2d if len(shape) == 2 else nn.functional.avg_pool3d
    up = nn.functional.interpolate(coarse, size=fine.shape[2:], mode="nearest")
    assert torch.allclose(avg_pool_grid(fine, pool), avg(fine, pool, pool))
    assert torch.allclose(add_block_upsampled(fine, coarse, pool), fine + up)
    assert torch.allclose(add_block_upsampled(fine, coarse[:, :1], pool), fine + up[:, :1])  # channel broadcast
    assert torch.equal(add_block_upsampled(fine, up, None), fine + up)
    assert torch.autograd.gradcheck(lambda f: avg_pool_grid(f, pool), (fine,))
    assert torch.autograd.gradcheck(lambda f, c: add_block_upsampled(f, c, pool), (fine, coarse))
    assert torch.autograd.gradcheck(lambda f, c: add_block_upsampled(f, c[:, :1], pool), (fine, coarse))


@pytest.mark.parametrize("dim", [2, 3])
def test_pooled_attention_grid_equals_explicit_pool_attend_upsample(dim):
    """The network with a pooled attention grid: identity at zero gates; once open, each pooled stage's
    attention equals attention over avg-pooled features, nearest-upsampled; gradients reach every part."""
    torch.manual_seed(0)
    cfg = TMCAConfig(**{**CONFIG.to_dict(), "attention_grid_fraction": 0.25, "lgte_stages": "all",
                        "attention_stages": "all"})
    unet = make_unet(PlainConvUNet, dim, 3).eval()
    net = build_tmca_network(unet, cfg).eval()
    x = torch.randn(2, 1, *([16] * dim))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(unet(x), net(x, text=random_text(2))))
    open_gates(net)
    block = net.lgte["1"].attention  # the full-resolution stage: 16 -> 4 (pool 4)
    feat = torch.randn(2, block.q.in_channels, *([16] * dim))
    tokens, mask = torch.randn(2, 7, CONFIG.model_dim), torch.ones(2, 7, dtype=torch.bool)
    fused, mixed = block(feat, tokens, mask, (4,) * dim)
    pooled_feat = nn.functional.avg_pool2d(feat, 4) if dim == 2 else nn.functional.avg_pool3d(feat, 4)
    coarse_fused, ref = block(pooled_feat, tokens, mask)
    assert mixed.shape[2:] == (4,) * dim and torch.allclose(mixed, ref, atol=1e-6)
    up = nn.functional.interpolate(coarse_fused - pooled_feat, size=feat.shape[2:], mode="nearest")
    assert torch.allclose(fused, feat + up, atol=1e-5)
    net.train()
    text = {**random_text(2), "null": torch.tensor([False, True])}
    seg, aux = net(x, text=text, return_alignment=True)
    (sum(o.square().mean() for o in seg) + sum(a["logits"].mean() for a in aux["stages"].values())).backward()
    for name, p in net.named_parameters():
        if name.startswith(("text_adapter", "lgte", "heads")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_plans_of_released_models_load_and_older_development_plans_fail_clearly():
    """0.1.0 wrote attention_readout="mixture" into the plans (still accepted); plans older than 0.1.0 (neither
    key) and the removed "projected" readout get an error that says to retrain."""
    released = {**CONFIG.to_dict(), "attention_readout": "mixture"}
    assert TMCAConfig.from_dict(released) == CONFIG
    older = {k: v for k, v in CONFIG.to_dict().items() if k not in ("attention_grid_fraction", "format")}
    for plans in (older, {**CONFIG.to_dict(), "attention_readout": "projected"}):
        with pytest.raises(ValueError, match="retrain"):
            TMCAConfig.from_dict(plans)


def test_migrate_plans_walks_the_version_table():
    """Plans of 0.4.0 - 0.5.0 development models (no "format") keep what they were trained with: rows without a
    report through the null text unless null_bypass was written, mirroring off unless text_mirroring was; removed
    research switches at their neutral values are dropped, other values and newer formats are refused."""
    from nnunetv2_tmca.model.plans_migration import PLANS_FORMAT, migrate_plans
    current = CONFIG.to_dict()
    assert current["format"] == PLANS_FORMAT and migrate_plans(current) == current
    written_by_0_4 = {k: v for k, v in current.items() if k not in ("format", "null_bypass", "text_mirroring")}
    written_by_0_4.update(detach_trunk=False, align_encoder_gradient=True, extra={})
    migrated = TMCAConfig.from_dict(written_by_0_4)
    assert migrated.format == PLANS_FORMAT and not migrated.null_bypass and migrated.text_mirroring == "off"
    assert migrated.align_features == CONFIG.align_features and migrated.text_units == CONFIG.text_units
    assert TMCAConfig.from_dict({**written_by_0_4, "null_bypass": True}).null_bypass
    for research in ({"detach_trunk": True}, {"align_encoder_gradient": False}, {"align_features": "skip_global"}):
        with pytest.raises(ValueError, match="retrain"):
            TMCAConfig.from_dict({**written_by_0_4, **research})
    with pytest.raises(ValueError, match="upgrade"):
        TMCAConfig.from_dict({**current, "format": PLANS_FORMAT + 1})
    assert TMCAConfig.from_dict({"lgte_stages": "all"}).null_bypass  # overrides in code: today's defaults


def test_pooled_grid_network_under_autocast_is_finite_and_trains():
    """Mixed precision (CPU autocast, bfloat16): the pooled grid mixes dtypes safely."""
    torch.manual_seed(0)
    cfg = TMCAConfig(**{**CONFIG.to_dict(), "attention_grid_fraction": 0.25, "lgte_stages": "all",
                        "attention_stages": "all"})
    net = build_tmca_network(make_unet(PlainConvUNet, 2, 3), cfg)
    open_gates(net)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        seg, aux = net(torch.randn(2, 1, 16, 16), text=random_text(2), return_alignment=True)
        loss = sum(o.float().square().mean() for o in seg) + sum(a["logits"].float().mean()
                                                                  for a in aux["stages"].values())
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for n, p in net.named_parameters() if n.startswith("lgte")]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def _head_inputs_and_embeddings(net, x, text):
    captured = {}
    hooks = [head.register_forward_hook(lambda m, args, out, s=s: captured.__setitem__(
        s, (args[0].detach().clone(), out["pixel_emb"].detach().clone(), out["pixel_inv_norm"].detach().clone())))
        for s, head in net.heads.items()]
    with torch.no_grad():
        net(x, text=text, return_alignment=True)
    for h in hooks:
        h.remove()
    return captured


@pytest.mark.parametrize("cls", [PlainConvUNet, ResidualEncoderUNet])
def test_alignment_heads_see_no_report(cls):
    """The heads' pixel inputs and embeddings (the TSSD region side) are identical under two reports; with
    align_features="decoder" they are not (FiLM and the coarser stages' LGTE put the report in)."""
    torch.manual_seed(0)
    cfg = {**CONFIG.to_dict(), "lgte_stages": "all", "attention_stages": "all", "align_stages": "all"}
    x = torch.randn(1, 1, 16, 16)
    t1, t2 = random_text(1, seed=1), random_text(1, seed=2)
    for features in ("skip", "decoder"):
        net = build_tmca_network(make_unet(cls, 2), TMCAConfig(**{**cfg, "align_features": features})).eval()
        open_gates(net)
        a, b = _head_inputs_and_embeddings(net, x, t1), _head_inputs_and_embeddings(net, x, t2)
        assert set(a) == set(net.heads) and len(a) == 3
        same = [all(torch.equal(u, v) for u, v in zip(a[s], b[s])) for s in a]
        if features != "decoder":
            assert all(same)
            for s in a:  # the input is the encoder skip the decoder concatenates at that stage
                assert a[s][0].shape[1] == net.encoder.output_channels[-(int(s) + 2)]
        else:
            assert not any(same[1:])  # every stage after the first LGTE carries the report



def test_plans_without_align_features_rebuild_decoder_heads_and_load_strictly():
    legacy = {k: v for k, v in CONFIG.to_dict().items() if k not in ("align_features", "use_position",
                                                                     "fuse_all_channels", "format")}
    cfg = TMCAConfig.from_dict(legacy)
    assert cfg.align_features == "decoder" and cfg.use_position and not cfg.fuse_all_channels
    assert TMCAConfig.from_dict({**legacy, "align_features": "skip"}).align_features == "skip"
    with pytest.raises(ValueError):
        TMCAConfig.from_dict({**legacy, "align_features": "other"})
    torch.manual_seed(0)
    old = build_tmca_network(make_unet(PlainConvUNet, 2), cfg).eval()
    open_gates(old)
    state = old.state_dict()
    for c in (TMCAConfig.from_dict(legacy), TMCAConfig.from_dict({**legacy, "align_features": "skip"})):
        new = build_tmca_network(make_unet(PlainConvUNet, 2), c).eval()
        new.load_state_dict(state, strict=True)
    rebuilt = build_tmca_network(make_unet(PlainConvUNet, 2), TMCAConfig.from_dict(legacy)).eval()
    rebuilt.load_state_dict(state, strict=True)
    x, text = torch.randn(1, 1, 16, 16), random_text(1)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(old(x, text=text), rebuilt(x, text=text)))


@pytest.mark.parametrize("all_channels", [False, True])
def test_output_fusion_channels(all_channels):
    """Softmax label sets: beta * z goes to channels 1: only; region-based (sigmoid) sets: to every channel."""
    torch.manual_seed(0)
    cfg = TMCAConfig(**{**CONFIG.to_dict(), "fuse_all_channels": all_channels})
    net = build_tmca_network(make_unet(PlainConvUNet, 2), cfg).eval()
    net.decoder.deep_supervision = False
    x, text = torch.randn(1, 1, 16, 16), random_text(1)
    with torch.no_grad():
        base, aux = net(x, text=text, return_alignment=True)
        net.output_fusion.fill_(1.0)
        fused = net(x, text=text)
    z = aux["target_logits"][max(aux["target_logits"])]
    z = nn.functional.interpolate(z, size=base.shape[2:], mode="bilinear", align_corners=False)
    delta = fused - base
    assert torch.allclose(delta[:, 1:], z.expand_as(delta[:, 1:]), atol=1e-5)
    assert torch.allclose(delta[:, :1], z if all_channels else torch.zeros_like(z), atol=1e-5)
    with torch.no_grad():
        again = net(x, text=text, return_alignment=True)[0]
    assert torch.equal(again, fused)


def test_output_fusion_is_trained_by_adamw():
    from nnunetv2_tmca.training.optimization import sgd_with_adamw_text
    net = build_tmca_network(make_unet(PlainConvUNet, 2), CONFIG)
    optimizer, scheduler = sgd_with_adamw_text(net, list(net.text_parameters()), 1e-2, 3e-5, 0.1, 10)
    assert any(p is net.output_fusion for p in optimizer.adamw.param_groups[0]["params"])
    assert not any(p is net.output_fusion for p in optimizer.sgd.param_groups[0]["params"])
    # with its own AdamW group (the trainer's default): lr_scale 1, the schedule reaches it, state round trip
    optimizer, scheduler = sgd_with_adamw_text(net, list(net.text_parameters()), 1e-2, 3e-5, 0.1, 10,
                                               [net.output_fusion], 1.0)
    text_group, gain_group = optimizer.adamw.param_groups
    assert gain_group["params"] == [net.output_fusion] and not any(p is net.output_fusion for p in text_group["params"])
    assert optimizer.param_groups[2] is gain_group and len(optimizer.param_groups) == 3
    scheduler.step(5)
    assert abs(gain_group["lr"] - 1e-2 * 0.5 ** 0.9) < 1e-12 and abs(text_group["lr"] - 1e-3 * 0.5 ** 0.9) < 1e-12
    optimizer.load_state_dict(optimizer.state_dict())


def test_no_position_features():
    torch.manual_seed(0)
    net = build_tmca_network(make_unet(PlainConvUNet, 2), TMCAConfig(**{**CONFIG.to_dict(), "use_position": False}))
    assert not any("position" in n for n, _ in net.named_parameters() if not n.startswith("text_adapter"))
    seg, aux = net(torch.randn(2, 1, 16, 16), text=random_text(2), return_alignment=True)
    assert aux["stages"] and all(torch.isfinite(o).all() for o in seg)

