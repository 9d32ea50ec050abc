"""SGD (U-Net) + AdamW (text modules) as one optimizer: pinned against torch upgrades."""
import torch

from nnunetv2_tmca.training.optimization import sgd_with_adamw_text


def _model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    text = list(model[1].parameters())
    optimizer, scheduler = sgd_with_adamw_text(model, text, 1e-2, 3e-5, 0.1, num_epochs=10)
    return model, text, optimizer, scheduler


def test_one_optimizer_whose_groups_are_the_inner_ones_and_the_schedule_reaches_them():
    model, text, optimizer, scheduler = _model_and_optimizer()
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0] is optimizer.sgd.param_groups[0]
    assert optimizer.param_groups[1] is optimizer.adamw.param_groups[0]
    scheduler.step(5)
    poly = 1e-2 * (1 - 5 / 10) ** 0.9
    assert abs(optimizer.sgd.param_groups[0]['lr'] - poly) < 1e-12
    assert abs(optimizer.adamw.param_groups[0]['lr'] - 0.1 * poly) < 1e-12


def test_grad_scaler_unscale_and_step_update_both_parameter_sets_and_hooks_run():
    model, text, optimizer, _ = _model_and_optimizer()
    calls = []
    optimizer.register_step_post_hook(lambda *args: calls.append("post"))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.randn(8, 4)).square().mean()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grads = [p.grad.detach().clone() for p in model.parameters()]
    torch.nn.utils.clip_grad_norm_(model.parameters(), 12)
    scaler.step(optimizer)
    scaler.update()
    assert calls == ["post"]
    for b, p, g in zip(before, model.parameters(), grads):
        assert g.abs().max() < 10  # unscaled (a scale of 256 would show)
        assert not torch.equal(b, p.detach())
    assert len(optimizer.adamw.state) == len(text)  # AdamW stepped the text parameters
    assert len(optimizer.state) == len(list(model.parameters()))  # the view counts both optimizers' state


def test_state_dict_round_trip():
    model, _, optimizer, _ = _model_and_optimizer()
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    _, _, fresh, _ = _model_and_optimizer()
    fresh.load_state_dict(state)
    assert fresh.state_dict()['adamw']['state'][0]['step'] == state['adamw']['state'][0]['step']
    assert set(fresh.state_dict()) == {'sgd', 'adamw'}
