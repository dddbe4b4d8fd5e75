import torch

from core.predictor.loss import (
    hard_rank,
    magnitude_ranked_loss,
    soft_rank,
    soft_spearman,
)


def test_soft_rank_orders_like_hard_rank():
    x = torch.tensor([3.0, -1.0, 2.0, 10.0])
    assert torch.equal(torch.argsort(soft_rank(x, 0.01)), torch.argsort(x))
    assert torch.allclose(hard_rank(torch.tensor([1.0, 2.0, 2.0, 5.0])), torch.tensor([1.0, 2.5, 2.5, 4.0]))


def test_soft_spearman_signs():
    torch.manual_seed(0)
    y = torch.randn(64)
    assert soft_spearman(y, y) > 0.99
    assert soft_spearman(y, -y) < -0.99
    assert abs(soft_spearman(y, torch.randn(64))) < 0.4


def test_loss_is_mse_at_lambda_zero_and_differentiable():
    torch.manual_seed(0)
    pred = torch.randn(16, requires_grad=True)
    y = torch.randn(16)
    embs = [torch.rand(16, 4, requires_grad=True) for _ in range(3)]
    total, mse, rank = magnitude_ranked_loss(pred, y, embs, lam=0.0)
    assert torch.allclose(total, torch.nn.functional.mse_loss(pred, y)) and rank.item() == 0
    total, mse, rank = magnitude_ranked_loss(pred, y, embs, lam=1.0)
    assert torch.allclose(total, mse + rank)
    total.backward()
    assert all(e.grad is not None and e.grad.abs().sum() > 0 for e in embs)


def test_rank_term_rewards_norms_that_follow_the_target():
    y = torch.linspace(-1, 1, 32)
    good = [torch.stack([y + 2, y + 2], 1)]      # norms increase with y
    bad = [torch.stack([2 - y, 2 - y], 1)]       # norms decrease with y
    pred = torch.zeros(32)
    assert magnitude_ranked_loss(pred, y, good)[2] < 0.05
    assert magnitude_ranked_loss(pred, y, bad)[2] > 1.9


def test_soft_spearman_of_stacked_hops_equals_each_hop_alone():
    torch.manual_seed(1)
    y = torch.randn(40)
    norms = torch.rand(5, 40)
    stacked = soft_spearman(y, norms)
    assert stacked.shape == (5,)
    assert torch.allclose(stacked, torch.stack([soft_spearman(y, row) for row in norms]), atol=1e-6)


def _reference_soft_spearman(target, score, temperature):
    """The rank term as plain autograd differentiates it: soft ranks, then Pearson with hard ranks."""
    from core.predictor.loss import _pearson

    return _pearson(hard_rank(target), soft_rank(score, temperature))


def test_soft_spearman_gradient_equals_autograd_of_its_definition():
    torch.manual_seed(2)
    y = torch.randn(48, dtype=torch.float64)
    y[5] = y[9]  # a tie in the target
    for temperature in (0.1, 1.0):
        norms = torch.rand(5, 48, dtype=torch.float64, requires_grad=True)
        weights = torch.randn(5, dtype=torch.float64)
        fast = soft_spearman(y, norms, temperature)
        (g_fast,) = torch.autograd.grad((fast * weights).sum(), norms)
        slow = _reference_soft_spearman(y, norms, temperature)
        (g_slow,) = torch.autograd.grad((slow * weights).sum(), norms)
        assert torch.allclose(fast, slow, atol=1e-12)
        assert torch.allclose(g_fast, g_slow, rtol=1e-9, atol=1e-12)
    one_row = torch.rand(48, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: soft_spearman(y, x, 0.3), (one_row,))



def test_a_constant_hop_gets_no_rank_and_no_gradient():
    """A hop whose norms are equal across the batch (a dead hop, or equal up to float32 rounding) has no
    ranking to learn: rho 0 and a zero gradient. Standardising it gave gradients of 5e17 (norms all 3.7),
    1e19 (all 0) and 1e5 (3.7 plus 1e-6 noise, which it ranked as if real)."""
    torch.manual_seed(0)
    y = torch.randn(32)
    live = torch.rand(32)
    flat_rows = torch.stack([torch.full((32,), 3.7), torch.zeros(32), 3.7 + 1e-6 * torch.randn(32)])
    norms = torch.cat([live.unsqueeze(0), flat_rows]).requires_grad_()
    rho = soft_spearman(y, norms)
    (1 - rho).sum().backward()
    assert torch.equal(rho[1:], torch.zeros(3))
    assert torch.isfinite(norms.grad).all()
    assert torch.equal(norms.grad[1:], torch.zeros(3, 32))
    # The live hop in the same stack is untouched by its flat neighbours.
    alone = live.clone().requires_grad_()
    (1 - soft_spearman(y, alone)).backward()
    assert torch.allclose(norms.grad[0], alone.grad, atol=1e-6) and torch.allclose(rho[0], soft_spearman(y, live))


def test_soft_rank_of_a_constant_row_is_the_middle_rank_with_no_gradient():
    x = torch.full((2, 9), 5.0)
    x[0] = torch.arange(9.0)
    x.requires_grad_()
    ranks = soft_rank(x, 0.1)
    assert torch.allclose(ranks[1], torch.full((9,), 5.0))
    (ranks[1] * torch.arange(9.0)).sum().backward()  # a loss that would reorder the row
    assert torch.equal(x.grad, torch.zeros(2, 9))


def test_masked_soft_spearman_is_each_members_soft_spearman_over_its_kept_rows():
    from core.predictor.loss import masked_soft_spearman

    g = torch.Generator().manual_seed(0)
    target = torch.randn(24, generator=g).round(decimals=1)  # ties included
    score = torch.rand(3, 4, 24, generator=g, dtype=torch.float64).requires_grad_()
    keep = torch.rand(3, 24, generator=g) > 0.25
    keep[2] = False
    keep[2, :2] = True  # a member with 2 kept rows: nothing to rank
    with torch.no_grad():
        score[0, 1] = 3.0  # a constant row
    masked = masked_soft_spearman(target, score, keep, temperature=0.1)
    grad_masked, = torch.autograd.grad(masked.sum(), score)
    one_by_one = torch.stack([soft_spearman(target[k], score[m][:, k], 0.1) if int(k.sum()) >= 3
                              else torch.zeros(4, dtype=torch.float64) for m, k in enumerate(keep)])
    grad_loop, = torch.autograd.grad(one_by_one.sum(), score)
    assert torch.allclose(masked, one_by_one, atol=1e-6)
    assert torch.allclose(grad_masked, grad_loop, atol=1e-6)
    assert masked[0, 1] == 0 and (grad_masked[0, 1] == 0).all() and (grad_masked[2] == 0).all()
    assert (grad_masked[~keep.unsqueeze(1).expand_as(score)] == 0).all()  # held-out rows move nothing
