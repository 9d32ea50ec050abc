"""Contrastive rows gathered across DDP ranks (gloo on the CPU), with uneven per-rank batches."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nnunetv2_tmca.losses import MultiLevelAlignmentLoss
from nnunetv2_tmca.losses.distributed import gather_rows


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, result_file):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
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
        if rank == 0:
            open(result_file, "w").write("ok")
    finally:
        dist.destroy_process_group()


def test_gather_rows_across_two_ranks(tmp_path):
    result = tmp_path / "result.txt"
    mp.spawn(_worker, args=(2, _free_port(), str(result)), nprocs=2, join=True)
    assert result.read_text() == "ok"


def test_gather_rows_single_process_is_identity():
    x = torch.randn(3, 2)
    xs, valid = gather_rows(x)
    assert xs is x and valid.all()
