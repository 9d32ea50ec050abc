"""torch.compile and mixed precision: CPU proxies of what nnU-Net does on CUDA (and the same tests on CUDA).

On CUDA, nnU-Net compiles the network (inductor) and trains under fp16 autocast with a GradScaler. Here:
dynamo + AOT autograd (backend "aot_eager", which catches graph breaks and tracing errors without a C++
compiler) on a 2D and a 3D TMCA network, with a text, the null text and a bound text, with no graph break
(``fullgraph=True``); autocast against fp32; the trainer's GradScaler branch against its plain branch; the
CPU-inference block mean against avg_pool. ``benchmarks/gpu_check.py`` runs this file on CUDA.
"""
import copy
import warnings

import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet

from helpers import CONFIG, make_unet, open_gates, random_text
from nnunetv2_tmca.model.config import TMCAConfig
from nnunetv2_tmca.model.network import build_tmca_network

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
PLANS = {"2d": (2, 3, 32), "3d": (3, 3, 16)}  # dim, U-Net stages, patch edge
GRID_CONFIG = TMCAConfig(**{**CONFIG.to_dict(), "attention_grid_fraction": 0.25, "null_bypass": True})  # as the trainer


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()  # every test compiles TMCANetwork.forward anew (the per-code cache limit is small)
    yield
    torch._dynamo.reset()


def tiny_network(plan, device, unet_class=PlainConvUNet):
    dim, stages, size = PLANS[plan]
    torch.manual_seed(0)
    net = build_tmca_network(make_unet(unet_class, dim, stages), GRID_CONFIG).to(device)
    open_gates(net)
    x = torch.randn(2, 1, *([size] * dim), device=device)
    text = {k: v.to(device) for k, v in random_text(2).items()}
    return net, x, text


def forward_backward(net, x, **kwargs):
    """Outputs (deep supervision + target logits) and the gradients of every parameter."""
    net.zero_grad(set_to_none=True)
    seg, aux = net(x, return_alignment=True, **kwargs)
    outs = list(seg) + [a["logits"] for a in aux["stages"].values()]
    sum(o.float().square().mean() for o in outs).backward()
    module = getattr(net, "_orig_mod", net)
    return [o.detach().float() for o in outs], {n: p.grad.detach().clone() for n, p in module.named_parameters()
                                                if p.grad is not None}


def assert_close(a, b, rtol):
    """Relative error of the whole tensor (robust to values near zero)."""
    a, b = a.float(), b.float()
    assert (a - b).norm() <= rtol * b.norm() + 1e-6, f"relative error {float((a - b).norm() / b.norm()):.2e}"


def assert_each_close(grad, ref, rtol):
    """Each tensor (gradient, update) relatively close; those below 1e-3 of the largest norm (e.g. of a bias before
    a norm, zero up to rounding) only absolutely, at that floor."""
    assert set(grad) == set(ref)
    floor = 1e-3 * max(g.norm() for g in ref.values())
    for n, g in ref.items():
        error = (grad[n].float() - g).norm() / max(g.norm(), floor)
        assert error <= rtol, f"{n}: relative error {float(error):.2e}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("plan,unet_class", [("2d", PlainConvUNet), ("3d", ResidualEncoderUNet)])
def test_compiled_network_equals_eager_in_one_graph(plan, unet_class, device):
    net, x, text = tiny_network(plan, device, unet_class)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)  # fullgraph: any graph break raises
    tol = 1e-4 if device == "cpu" else 1e-3  # cuDNN may pick other (TF32) algorithms for the same convolution
    # training: text rows with null flags (text dropout, as TextLookup gives them) and the null text
    for kwargs in ({"text": {**text, "null": torch.tensor([False, True], device=device)}}, {}):
        ref_out, ref_grad = forward_backward(net, x, **kwargs)
        out, grad = forward_backward(compiled, x, **kwargs)
        assert len(out) == len(ref_out)
        for o, r in zip(out, ref_out):
            assert_close(o, r, tol)
        assert_each_close(grad, ref_grad, 10 * tol)
    # prediction as nnU-Net's predictor does it: eval, no deep supervision, text bound as module state
    net.eval()
    net.decoder.deep_supervision = False
    other = {**text, "tokens": text["tokens"].flip(0)}
    with torch.no_grad():
        for t in (text, other):
            with net.bind_text({k: v[:1] for k, v in t.items()}):
                expected = net(x)
                # a new report of the same shape is a new input, not a new graph
                with torch._dynamo.config.patch(error_on_recompile=t is other):
                    assert_close(compiled(x), expected, tol)


def test_compiled_prediction_without_report_warns_once():
    net, x, _ = tiny_network("2d", "cpu")
    net.eval()
    compiled = torch.compile(net, backend="aot_eager")
    with torch.no_grad():
        with pytest.warns(UserWarning, match="without a report"):
            out = compiled(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with torch._dynamo.config.patch(error_on_recompile=True):
                compiled(x)
        assert all(torch.allclose(o, r, atol=1e-5) for o, r in zip(out, net(x)))
    explained = torch._dynamo.explain(net)(x)  # the warning's helper runs outside, before the one graph
    assert explained.graph_count == 1 and explained.graph_break_count == 0


AMP_CASES = [("cpu", torch.bfloat16)] + ([("cuda", torch.float16), ("cuda", torch.bfloat16)]
                                          if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device,dtype", AMP_CASES, ids=lambda v: str(v).replace("torch.", ""))
@pytest.mark.parametrize("plan", ["2d", "3d"])
def test_autocast_matches_fp32_eager_and_compiled(plan, device, dtype):
    net, x, text = tiny_network(plan, device)
    ref_out, ref_grad = forward_backward(net, x, text=text)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    for model in (net, compiled):
        with torch.autocast(device, dtype=dtype):
            out, grad = forward_backward(model, x, text=text)
        for o, r in zip(out, ref_out):
            assert torch.isfinite(o).all()
            assert_close(o, r, 0.03)
        # bfloat16 keeps 8 bits of mantissa: single small gradients of the planned U-Net itself are off by 10-30 %
        # under autocast (measured with the same weights), so each gradient gets a loose bound, all together a tight one
        assert_each_close(grad, ref_grad, 0.5)
        assert_close(torch.cat([grad[n].flatten() for n in ref_grad]),
                     torch.cat([g.flatten() for g in ref_grad.values()]), 0.1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [2, 3])
def test_block_mean_kernels_agree_and_dispatch(dim, device, monkeypatch):
    """The strided-slice block mean equals avg_pool (values and gradients); the dispatch picks it only for 2D maps
    on the CPU outside autograd, and the network's prediction is the same with either."""
    from nnunetv2_tmca.model import attention_grid
    torch.manual_seed(0)
    pool = (2, 4) if dim == 2 else (2, 1, 2)
    fine = torch.randn(2, 6, *(4 * k for k in pool), device=device, requires_grad=True)
    results = []
    for kernel in (attention_grid.block_mean_by_slices, attention_grid.block_mean_by_pooling):
        fine.grad = None
        out = kernel(fine, pool)
        out.backward(torch.ones_like(out))
        results.append((out.detach(), fine.grad.clone()))
    (a, ga), (b, gb) = results
    assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5) and torch.allclose(ga, gb, atol=1e-5)
    with torch.no_grad():
        assert attention_grid.use_slice_block_mean(fine) == (dim == 2 and device == "cpu")
    assert not attention_grid.use_slice_block_mean(fine)  # autograd on: training runs avg_pool
    net, x, text = tiny_network("2d" if dim == 2 else "3d", device)
    net.eval()
    with torch.no_grad():
        dispatched = net(x, text=text)
        monkeypatch.setattr(attention_grid, "use_slice_block_mean", lambda t: False)
        pooling_only = net(x, text=text)
    for o, r in zip(dispatched, pooling_only):
        assert_close(o, r, 1e-5)


@pytest.fixture(params=DEVICES[-1:])
def tiny_trainer(request, tiny_dataset, monkeypatch):
    """nnUNetTrainerTMCA initialised in this process on the session's tiny planned dataset (32x32, batch 4), on
    CUDA where there is one; not compiled by nnU-Net (the test compiles it)."""
    root, _ = tiny_dataset
    for name, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "pre"), ("nnUNet_results", "res")):
        monkeypatch.setenv(name, str(root / sub))  # nnU-Net 2.8 reads its paths when used
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv("nnUNet_compile", "0")
    from helpers import DATASET_NAME
    from nnunetv2_tmca.experiments.step_timing import make_trainer
    return make_trainer("nnUNetTrainerTMCA", DATASET_NAME, "2d", request.param, 4), request.param


def test_train_step_grad_scaler_branch_equals_plain_branch(tiny_trainer):
    """The GradScaler path (scale, unscale_, clip, step, update) steps the U-Net (SGD) and the text modules
    (AdamW) of the compiled network exactly as the plain path does, and skips both on non-finite gradients."""
    trainer, device = tiny_trainer
    trainer.network = torch.compile(trainer.network, backend="aot_eager", fullgraph=True)
    batch = next(trainer.dataloader_train)
    start = ({k: v.clone() for k, v in trainer.network_module.state_dict().items()},
             copy.deepcopy(trainer.optimizer.state_dict()))
    text_names = {n for n, p in trainer.network_module.named_parameters()
                  if any(p is q for q in trainer.network_module.text_parameters())}
    deltas = {}
    scales = {"scaler": 2.0 ** 12, "plain": None, "overflow": float("inf")}  # inf: every gradient non-finite
    for branch, scale in scales.items():
        trainer.network_module.load_state_dict(start[0])
        trainer.optimizer.load_state_dict(copy.deepcopy(start[1]))
        trainer.grad_scaler = torch.amp.GradScaler(device, init_scale=scale) if scale else None
        trainer._iteration_in_epoch = 0
        torch.manual_seed(1)  # the same text dropout
        out = trainer.train_step(batch)
        assert torch.isfinite(torch.as_tensor(out["loss"])) and out["align_loss"] == out["align_loss"]
        deltas[branch] = {n: (p.detach() - start[0][n]) for n, p in trainer.network_module.named_parameters()}
    moved = {n for n, d in deltas["scaler"].items() if d.abs().max() > 0}
    assert moved & text_names and moved - text_names, "both parameter groups must be stepped"
    # fp32 on the CPU: equal up to rounding; fp16 autocast on CUDA: scaling changes what underflows
    assert_each_close(deltas["scaler"], deltas["plain"], 1e-4 if device == "cpu" else 3e-2)
    # fp16's overflow case: the scaler skips the step of both optimizers
    assert all(d.abs().max() == 0 for d in deltas["overflow"].values())
