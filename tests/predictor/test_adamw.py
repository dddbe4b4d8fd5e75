"""The one-call AdamW step updates parameters exactly as torch.optim.AdamW(fused=True) does."""
import copy
import math

import pytest
import torch

from core.predictor.adamw import FusedAdamW
from core.predictor.train import cosine_lr


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def test_updates_equal_torch_adamw_bit_for_bit_under_a_changing_rate():
    ours_model, torch_model = _model(), _model()
    ours = FusedAdamW(ours_model.parameters(), lr=1e-2, weight_decay=1e-4)
    reference = torch.optim.AdamW(torch_model.parameters(), lr=1e-2, weight_decay=1e-4, fused=True)
    x = torch.randn(32, 3)
    for step in range(30):
        lr = cosine_lr(1e-2, step // 5, 6)
        ours.lr = lr
        for group in reference.param_groups:
            group["lr"] = lr
        for model, opt in ((ours_model, ours), (torch_model, reference)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    assert ours.steps_taken == 30
    for a, b in zip(ours_model.parameters(), torch_model.parameters()):
        assert torch.equal(a, b)


def test_zero_grad_clears_and_a_step_without_gradients_changes_nothing():
    model = _model()
    before = copy.deepcopy(model.state_dict())
    opt = FusedAdamW(model.parameters(), lr=0.1)
    opt.step()
    assert opt.steps_taken == 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    model(torch.randn(4, 3)).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_cosine_rate_runs_from_lr_to_zero():
    assert cosine_lr(0.5, 0, 10) == 0.5
    assert math.isclose(cosine_lr(0.5, 5, 10), 0.25)
    assert math.isclose(cosine_lr(0.5, 10, 10), 0.0, abs_tol=1e-12)


def test_refuses_nothing_to_optimise():
    with pytest.raises(ValueError, match="no parameters"):
        FusedAdamW([], lr=0.1)
