"""Contrastive rows gathered across DDP ranks (gloo on the CPU), with uneven per-rank batches; the region term's
gradient under DDP equals the single-process gradient on the concatenated batch."""
import os
import socket
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nnunetv2_tmca.losses import MultiLevelAlignmentLoss
from nnunetv2_tmca.losses.distributed import gather_rows


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _gloo_group(rank, world, port, result_file):
    """One rank's gloo process group; rank 0 writes "ok" to ``result_file`` when the block passed."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        yield
        if rank == 0:
            open(result_file, "w").write("ok")
    finally:
        dist.destroy_process_group()


def _spawn_two_ranks(worker, tmp_path):
    result = tmp_path / "result.txt"
    mp.spawn(worker, args=(2, _free_port(), str(result)), nprocs=2, join=True)
    assert result.read_text() == "ok"


def _worker(rank, world, port, result_file):
    with _gloo_group(rank, world, port, result_file):
        n = 2 + rank  # uneven: 2 rows on rank 0, 3 on rank 1
        x = (torch.arange(n * 3, dtype=torch.float32).reshape(n, 3) + 100 * rank).requires_grad_(True)
        g = torch.arange(n) + 10 * rank
        xs, gs, valid = gather_rows(x, g)
        assert xs.shape == (5, 3) and gs.tolist() == [0, 1, 10, 11, 12] and valid.all()
        xs.sum().backward()  # only local rows carry gradient
        assert torch.equal(x.grad, torch.ones_like(x))
        # the multi-level loss runs with negatives from the other rank, and stays finite
        torch.manual_seed(rank)
        out = {1: {"pixel_emb": torch.randn(n, 4, 5, 5, requires_grad=True), "text_emb": torch.nn.functional.normalize(
            torch.randn(n, 4), dim=1), "logits": torch.randn(n, 1, 5, 5)}}
        target = {1: (torch.rand(n, 1, 5, 5) > 0.5).float()}
        loss, _ = MultiLevelAlignmentLoss({1: 1.0})(out, target, g, torch.ones(n, dtype=torch.bool))
        loss.backward()
        assert torch.isfinite(loss) and out[1]["pixel_emb"].grad.abs().sum() > 0


def test_gather_rows_across_two_ranks(tmp_path):
    _spawn_two_ranks(_worker, tmp_path)


def _region_term_and_grads(rows: slice):
    """Region term (with target positives) of rows ``rows`` of a fixed batch of 5, through shared projections;
    returns the loss and the projections' gradients."""
    torch.manual_seed(0)
    pixel_proj, text_proj = torch.nn.Linear(4, 3), torch.nn.Linear(6, 3)
    feats, texts = torch.randn(5, 5, 5, 4)[rows], torch.randn(5, 6)[rows]
    target = (torch.rand(5, 1, 5, 5) > 0.5).float()[rows]
    target[..., 0, 0] = 1
    groups = torch.tensor([0, 1, 1, 2, 3])[rows]  # a repeated report across the ranks' rows
    out = {1: {"pixel_emb": pixel_proj(feats).permute(0, 3, 1, 2), "logits": torch.zeros_like(target),
               "text_emb": torch.nn.functional.normalize(text_proj(texts), dim=1)}}
    loss, _ = MultiLevelAlignmentLoss({1: 1.0}, pixel_weight=0.0, positives="target", positive_threshold=0.5)(
        out, {1: target}, groups, torch.ones(len(groups), dtype=torch.bool))
    loss.backward()
    return loss.detach(), [p.grad for m in (pixel_proj, text_proj) for p in m.parameters()]


def _ddp_gradient_worker(rank, world, port, result_file):
    single_loss, single_grads = _region_term_and_grads(slice(0, 5))  # before the process group: one process
    with _gloo_group(rank, world, port, result_file):
        loss, grads = _region_term_and_grads(slice(0, 2) if rank == 0 else slice(2, 5))  # uneven: 2 and 3 rows
        for g in grads:  # what DDP does: average the gradients over the ranks
            dist.all_reduce(g)
            g /= world
        assert torch.allclose(loss, single_loss, atol=1e-6)
        for g, ref in zip(grads, single_grads):
            assert torch.allclose(g, ref, atol=1e-6), (g, ref)


def test_ddp_region_gradient_equals_single_process_on_the_concatenated_batch(tmp_path):
    _spawn_two_ranks(_ddp_gradient_worker, tmp_path)


def test_gather_rows_single_process_is_identity():
    x = torch.randn(3, 2)
    xs, valid = gather_rows(x)
    assert xs is x and valid.all()
