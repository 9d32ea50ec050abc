"""Alignment losses: positives from identical reports and repeated keys, empty targets, NaN safety, direction."""
import pytest
import torch
from torch.nn import functional as F

from nnunetv2_tmca.losses import MultiLevelAlignmentLoss
from nnunetv2_tmca.losses.pixel import pixel_alignment_loss
from nnunetv2_tmca.losses.tssd import region_embeddings, semantic_distance, soft_contrastive


def stage_output(pixel, text, scale=10.0, bias=-5.0):
    pixel, text = F.normalize(pixel, dim=1), F.normalize(text, dim=1)
    logits = scale * (pixel * text[:, :, None, None]).sum(1, keepdim=True) + bias
    return {"pixel_emb": pixel, "text_emb": text, "logits": logits}


def test_region_embedding_pools_inside_target_only():
    pix = torch.zeros(2, 3, 4, 4)
    pix[:, 0, :2] = 1.0  # target area points along axis 0
    pix[:, 1, 2:] = 1.0  # background points along axis 1
    target = torch.zeros(2, 1, 4, 4)
    target[0, :, :2] = 1
    v, has = region_embeddings(pix, target)
    assert has.tolist() == [True, False]
    assert torch.allclose(v[0], torch.tensor([1.0, 0, 0]))
    assert torch.allclose(semantic_distance(v[:1], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])),
                          torch.tensor([[0.0, 1.0]]))


def test_near_identical_reports_are_positives_not_negatives():
    # reports 0 and 1 are near-identical (one text group) but embed slightly differently; 2 differs.
    # Soft targets pull the two embeddings together; hard one-to-one targets push them apart.
    e = torch.eye(3)
    ones = torch.ones(3, dtype=torch.bool)

    def separation_pressure(positives):
        t = torch.stack([e[0], F.normalize(e[0] + 0.3 * e[2], dim=0), e[1]]).requires_grad_(True)
        v = t.detach().clone().requires_grad_(True)
        soft_contrastive(semantic_distance(v, t), positives, ones, ones, tau=0.1).backward()
        # > 0: a gradient-descent step moves t0 and t1 apart
        return float(-(t.grad[0] - t.grad[1]) @ (t[0] - t[1]).detach())

    groups = torch.tensor([0, 0, 1])
    assert separation_pressure(groups[:, None] == groups[None, :]) < 0
    assert separation_pressure(torch.eye(3).bool()) > 0.1


def test_repeated_keys_and_groups_in_multilevel_loss():
    torch.manual_seed(0)
    loss_fn = MultiLevelAlignmentLoss({2: 1.0}, tau=0.1)
    text = torch.randn(3, 8)
    text[1] = text[0]  # repeated key: same row of the text table, same group
    pixel = torch.randn(3, 8, 8, 8)
    target = torch.zeros(3, 1, 8, 8)
    target[:, :, 2:5, 2:5] = 1
    # align target pixels with their report, background against it
    pixel_aligned = pixel.clone()
    for i in range(3):
        pixel_aligned[i, :, 2:5, 2:5] = text[i][:, None, None] * 5
        pixel_aligned[i, :, :2] = -text[i][:, None, None] * 5
    groups = torch.tensor([0, 0, 1])
    has_report = torch.ones(3, dtype=torch.bool)
    random_loss, _ = loss_fn({2: stage_output(pixel, text)}, {2: target}, groups, has_report)
    aligned_loss, parts = loss_fn({2: stage_output(pixel_aligned, text)}, {2: target}, groups, has_report)
    assert aligned_loss < random_loss
    assert parts["region"] >= 0 and parts["pixel"] >= 0


def test_empty_targets_skip_region_term_and_never_nan():
    loss_fn = MultiLevelAlignmentLoss({1: 1.0, 2: 2.0})
    out = {s: stage_output(torch.randn(4, 8, 6, 6, requires_grad=True), torch.randn(4, 8, requires_grad=True))
           for s in (1, 2)}
    empty = {s: torch.zeros(4, 1, 6, 6) for s in (1, 2)}
    loss, parts = loss_fn(out, empty, torch.arange(4), torch.ones(4, dtype=torch.bool))
    assert torch.isfinite(loss) and parts["region"] == 0.0
    loss.backward()
    # no report at all in the batch (all dropped to the null text): still finite, zero
    loss2, _ = loss_fn(out, empty, torch.arange(4), torch.zeros(4, dtype=torch.bool))
    assert torch.isfinite(loss2) and float(loss2) == 0.0
    # a single case, and all cases with the same report
    loss3, _ = loss_fn({s: {k: v[:1] for k, v in o.items()} for s, o in out.items()},
                       {s: torch.ones(1, 1, 6, 6) for s in (1, 2)}, torch.zeros(1, dtype=torch.long),
                       torch.ones(1, dtype=torch.bool))
    assert torch.isfinite(loss3)


def test_finite_under_autocast_bf16():
    loss_fn = MultiLevelAlignmentLoss({0: 1.0})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pix = torch.randn(3, 8, 4, 4) * 100
        out = stage_output(pix, torch.randn(3, 8))
        out = {k: v.to(torch.bfloat16) for k, v in out.items()}
        target = torch.zeros(3, 1, 4, 4)
        target[0, :, 0, 0] = 1
        loss, _ = loss_fn({0: out}, {0: target}, torch.tensor([0, 1, 1]), torch.ones(3, dtype=torch.bool))
    assert torch.isfinite(loss.float())


def test_pixel_loss_decreases_when_aligned_and_respects_ignore():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    good = (target * 2 - 1) * 8
    bad = -good
    valid = torch.ones(1, dtype=torch.bool)
    assert pixel_alignment_loss(good, target, valid) < 0.01 < pixel_alignment_loss(bad, target, valid)
    ignore = torch.zeros_like(target)
    ignore[..., :2, :] = 1  # only the target half is valid
    half_bad = good.clone()
    half_bad[..., 2:, :] = 8  # wrong, but ignored
    assert pixel_alignment_loss(half_bad, target, valid, ignore) < 0.01


def test_pixel_loss_mines_look_alike_background():
    """A distractor the report does not name weighs more than its share of the background."""
    target = torch.zeros(1, 1, 16, 16)
    target[..., 2:4, 2:4] = 1
    clean = (target * 2 - 1) * 6
    distractor = clean.clone()
    distractor[..., 10:12, 10:12] = 6  # looks like the target, but is background
    valid = torch.ones(1, dtype=torch.bool)
    plain_gap = 0.5 * 4 * 6.0 / (256 - 4)  # what a plain background mean would add for the distractor
    gap = float(pixel_alignment_loss(distractor, target, valid) - pixel_alignment_loss(clean, target, valid))
    assert gap > 5 * plain_gap


def test_pixel_rows_let_null_text_rows_train_the_target_map():
    loss_fn = MultiLevelAlignmentLoss({1: 1.0})
    logits = torch.zeros(2, 1, 4, 4, requires_grad=True)
    out = {1: {"pixel_emb": torch.randn(2, 3, 4, 4), "text_emb": torch.randn(2, 3), "logits": logits}}
    target = {1: torch.ones(2, 1, 4, 4)}
    no_report = torch.tensor([True, False])
    loss, _ = loss_fn(out, target, torch.arange(2), no_report)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0  # default: the null-text row is left out
    logits.grad = None
    loss, _ = loss_fn(out, target, torch.arange(2), no_report, pixel_rows=torch.ones(2, dtype=torch.bool))
    loss.backward()
    assert logits.grad[1].abs().sum() > 0


def _paraphrase_batch():
    """Cases 0 and 1: two paraphrases of one report ("Two lesions, upper left and lower right." / "There are 2
    nodules: upper left and lower right."), two text groups, the same target; case 2 another report and place."""
    e = torch.eye(3)
    text = torch.stack([e[0], F.normalize(e[0] + 0.3 * e[2], dim=0), e[1]])
    target = torch.zeros(3, 1, 8, 8)
    target[:2, :, :3, :3] = 1
    target[:2, :, 5:, 5:] = 1
    target[2, :, 5:, :3] = 1
    return text, target, torch.tensor([0, 1, 2])


@pytest.mark.parametrize("positives", ["group", "target"])
def test_paraphrases_are_not_pushed_apart(positives):
    text, target, groups = _paraphrase_batch()
    loss_fn = MultiLevelAlignmentLoss({1: 1.0}, pixel_weight=0.0, positives=positives)
    t = text.clone().requires_grad_(True)
    pixel = t.detach()[:, :, None, None] * target  # each region embedding equals its own report's
    loss, _ = loss_fn({1: {"pixel_emb": pixel, "text_emb": t, "logits": torch.zeros_like(target)}}, {1: target},
                      groups, torch.ones(3, dtype=torch.bool))
    loss.backward()
    pressure = float(-(t.grad[0] - t.grad[1]) @ (t[0] - t[1]).detach())  # > 0: a descent step moves t0, t1 apart
    assert (pressure > 0.1) if positives == "group" else (pressure < 0)


@pytest.mark.parametrize("dim", [2, 3])
def test_target_descriptor_matches_targets_at_the_same_place(dim):
    from nnunetv2_tmca.losses.tssd import target_descriptor
    size = (32,) * dim
    t = torch.zeros(4, 1, *size)
    t[0, :, 2:8, 3:9] = 1  # a lesion top left ...
    t[1, :, 4:9, 2:6] = 1  # ... another one in the same place, other shape
    t[2, :, 22:30, 20:28] = 1  # elsewhere; t[3] empty
    d = target_descriptor(t)
    assert d.shape == (4, 8 ** dim)
    sim = d @ d.t()
    assert sim[0, 1] > 0.95 > 0.2 > sim[0, 2]
    assert torch.equal(d[3], torch.zeros_like(d[3]))
    assert target_descriptor(torch.zeros(1, 1, *(4,) * dim)).shape == (1, 4 ** dim)  # coarser than the grid


def test_global_pooling_switch_keeps_soft_targets_and_pixel_term():
    text, target, groups = _paraphrase_batch()
    logits = torch.zeros_like(target, requires_grad=True)
    out = {1: {"pixel_emb": torch.randn(3, 3, 8, 8), "text_emb": text, "logits": logits}}
    loss, parts = MultiLevelAlignmentLoss({1: 1.0}, region_pooling="image", positives="target")(
        out, {1: target}, groups, torch.ones(3, dtype=torch.bool))
    loss.backward()
    assert parts["pixel"] > 0 and logits.grad.abs().sum() > 0 and parts["region"] > 0
    with pytest.raises(ValueError):
        MultiLevelAlignmentLoss({1: 1.0}, positives="text")  # not a candidate (documentation/benchmarks.md)

