"""The magnitude-ranked embedding loss of AutoBuild (Mills et al., CVPR 2024, Sec. 3.2).

    L = MSE(y_hat, y) + lambda * 1/(L+1) * sum_{h=0..L} (1 - rho_soft(y, ||h_G^h||_1))

``rho_soft`` is Spearman's correlation computed on differentiable soft ranks. It makes
architectures with better targets have larger graph-embedding norms at *every* hop, which is what
turns node-embedding norms into module scores. With lambda = 0 the loss is the plain MSE regressor
(the paper's ablation).

Soft ranks use the pairwise-sigmoid relaxation ``r_i = 1/2 + sum_j sigmoid((x_i - x_j) / tau)``
on standardised inputs (so the temperature does not depend on the norms' scale and the loss cannot
be gamed by inflating norms). It is O(B^2) in the batch size, trivial for B <= 1024, and needs no
compiled extension; torchsort is used instead when installed and ``use_torchsort`` is set.

A hop whose norms are equal across the batch (up to float32 rounding: a spread under
:data:`FLAT_SPREAD` of their size) has no ranking to learn from; it gets rho = 0 and no gradient.
Standardising it instead divided rounding noise by (std + 1e-8) and the Pearson term by
(|a| |c| + 1e-8), and gradients reached 1e18: one such step fills Adam's second moment for longer
than a training lasts, freezing every weight it touched.

The rank term runs as one autograd function with its gradient written out (:class:`SoftSpearman`):
the same numbers as letting autograd differentiate :func:`soft_rank` and :func:`_pearson`
(tests/predictor/test_loss.py), in one autograd node; on the CPU it is about as fast as autograd's own
nodes (docs/design.md, section 6.1).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


#: Relative spread (std / mean |x|) at or under which a row of norms counts as constant: float32
#: sums of a few hundred terms round at about 1e-6 of their size; real hops spread by 0.4% or more.
FLAT_SPREAD = 1e-5


def _flat(centred: torch.Tensor, std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """[..., 1] True where a row's spread is rounding, not a ranking (see :data:`FLAT_SPREAD`)."""
    return std <= FLAT_SPREAD * x.abs().mean(dim=-1, keepdim=True)


def soft_rank(x: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Differentiable ranks (1 = smallest) along the last dimension of ``x`` ([B] or [H, B]); a
    constant row (:data:`FLAT_SPREAD`) gets equal ranks and no gradient."""
    centred = x - x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, unbiased=False, keepdim=True)
    z = torch.where(_flat(centred, std, x), 0.0, centred / (std + 1e-8))
    diff = (z.unsqueeze(-1) - z.unsqueeze(-2)) / temperature  # [..., B, B]: diff[i, j] = z_i - z_j
    return 0.5 + torch.sigmoid(diff).sum(dim=-1)


def hard_rank(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (1 = smallest, ties share their mean rank) of a 1-D tensor, float."""
    order = torch.argsort(x)
    ranks = torch.empty_like(x, dtype=torch.float32)
    ranks[order] = torch.arange(1, x.numel() + 1, dtype=torch.float32, device=x.device)
    # Average tied ranks so the label side is an exact Spearman rank.
    uniq, inverse = torch.unique(x, return_inverse=True)
    if uniq.numel() < x.numel():
        sums = torch.zeros(uniq.numel(), device=x.device).index_add_(0, inverse, ranks)
        counts = torch.zeros(uniq.numel(), device=x.device).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    return ranks


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last dimension (broadcasting, e.g. [B] with [H, B] -> [H])."""
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    return (a * b).sum(dim=-1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-8)


class SoftSpearman(torch.autograd.Function):
    """rho [H]: Pearson correlation of the hard ranks ``ranks`` [B] with the soft ranks of each row of
    ``x`` [H, B]; the forward of :func:`soft_rank` followed by :func:`_pearson`, with an explicit backward.

    With z = (x - mean x) / (std x + 1e-8), s_ij = sigmoid((z_i - z_j) / tau), r_i = 1/2 + sum_j s_ij,
    a = ranks - mean, c = r - mean r and rho = <a, c> / (|a| |c| + 1e-8), the gradient is

        d rho / d c_i = a_i / den - rho |a| c_i / (|c| den)            (den = |a| |c| + 1e-8)
        d L / d z_k   = (1 / tau) (g_k sum_j s'_kj - sum_j s'_kj g_j)    (g = d L / d r, s' = s (1 - s))

    back through the centring of r and the standardisation of x (s' is symmetric: s'_jk = s'_kj).
    A constant row (:data:`FLAT_SPREAD`) has z = 0, so rho = 0, and its gradient is 0.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, ranks: torch.Tensor, temperature: float) -> torch.Tensor:
        centred = x - x.mean(dim=-1, keepdim=True)
        std = centred.square().mean(dim=-1, keepdim=True).sqrt()
        flat = _flat(centred, std, x)
        z = torch.where(flat, 0.0, centred / (std + 1e-8))
        scaled = z / temperature
        s = torch.sigmoid(scaled.unsqueeze(-1) - scaled.unsqueeze(-2))  # [H, B, B]
        r = 0.5 + s.sum(dim=-1)
        a = ranks - ranks.mean()
        c = r - r.mean(dim=-1, keepdim=True)
        a_norm, c_norm = a.norm(), c.norm(dim=-1, keepdim=True)
        den = a_norm * c_norm + 1e-8
        rho = (a * c).sum(dim=-1, keepdim=True) / den
        ctx.save_for_backward(s, centred, std, a, c, c_norm, den, rho, flat)
        ctx.temperature = temperature
        return rho.squeeze(-1)

    @staticmethod
    def backward(ctx, grad_rho: torch.Tensor):
        s, centred, std, a, c, c_norm, den, rho, flat = ctx.saved_tensors
        g_rho = grad_rho.unsqueeze(-1)
        g_c = g_rho * (a / den - rho * a.norm() * c / (c_norm.clamp_min(1e-30) * den))
        g_r = g_c - g_c.mean(dim=-1, keepdim=True)
        s_prime = torch.addcmul(s, s, s, value=-1.0)  # s (1 - s) [H, B, B] in one pass
        g_z = (g_r * s_prime.sum(dim=-1) - (s_prime * g_r.unsqueeze(-2)).sum(dim=-1)) / ctx.temperature
        # z = centred / (std + eps) with std = sqrt(mean(centred^2)): d std / d centred_k = centred_k / (B std).
        g_std = -(g_z * centred).sum(dim=-1, keepdim=True) / (std + 1e-8) ** 2
        g_centred = g_z / (std + 1e-8) + g_std * centred / (centred.shape[-1] * std.clamp_min(1e-30))
        # where, not a product: a flat row's intermediate terms divide by ~1e-8 and may be inf.
        g_x = torch.where(flat, 0.0, g_centred - g_centred.mean(dim=-1, keepdim=True))
        return g_x, None, None


def soft_spearman(target: torch.Tensor, score: torch.Tensor, temperature: float = 0.1,
                  use_torchsort: bool = False) -> torch.Tensor:
    """Spearman correlation between ``target`` [B] (hard ranks) and ``score`` (soft ranks).

    ``score`` is [B] (returns a scalar) or [H, B], one row per hop (returns [H]); the target's
    hard ranks are computed once and shared by every row.
    """
    if use_torchsort:
        import torchsort  # optional: only when the user installed it

        rows = score.reshape(-1, score.shape[-1])
        ranks = torchsort.soft_rank(rows, regularization_strength=temperature).reshape(score.shape)
        return _pearson(hard_rank(target.detach()), ranks)
    rows = score.reshape(-1, score.shape[-1])
    return SoftSpearman.apply(rows, hard_rank(target.detach()), temperature).reshape(score.shape[:-1])


def masked_soft_spearman(target: torch.Tensor, score: torch.Tensor, keep: torch.Tensor,
                         temperature: float = 0.1) -> torch.Tensor:
    """rho [K, H]: for each member k, :func:`soft_spearman` of ``target`` [B] with each row of ``score``
    [K, H, B] over only the graphs ``keep[k]`` [K, B] marks (the rows member k learns from), for all members
    at once.

    The same numbers as calling :func:`soft_spearman` on each member's subset (tests/predictor/test_loss.py):
    standardisation, soft ranks r_i = 1/2 + sum_{j kept} sigmoid((z_i - z_j) / tau), the target's
    average ranks and the Pearson correlation are all taken over the kept graphs; the others get z = 0 and
    weight 0, so they move nothing. A member with fewer than 3 kept graphs, or a constant row
    (:data:`FLAT_SPREAD`), gets rho = 0 and no gradient. Plain autograd: one graph of a few nodes for
    all members (a loop over members would add K times the per-call cost to every step).
    """
    m = keep.to(score.dtype).unsqueeze(1)  # [K, 1, B]
    count = m.sum(-1, keepdim=True).clamp_min(1.0)  # [K, 1, 1]
    centred = (score - (score * m).sum(-1, keepdim=True) / count) * m
    # clamp_min: sqrt's gradient at an exact 0 (a flat row) is inf, and 0 * inf would be NaN.
    std = (centred.square().sum(-1, keepdim=True) / count).clamp_min(1e-30).sqrt()
    flat = std <= FLAT_SPREAD * (score.abs() * m).sum(-1, keepdim=True) / count
    # The divisor is 1 on flat rows so that the branch torch.where drops has no inf for autograd to carry.
    z = torch.where(flat, 0.0, centred / torch.where(flat, 1.0, std + 1e-8))
    scaled = z / temperature
    s = torch.sigmoid(scaled.unsqueeze(-1) - scaled.unsqueeze(-2))  # [K, H, B, B]
    r = 0.5 + (s * m.unsqueeze(-2)).sum(-1)
    c = (r - (r * m).sum(-1, keepdim=True) / count) * m
    # The target's average rank among each member's kept graphs: 1 + (kept below) + (kept ties, others) / 2.
    t = target.detach()
    below = (t.unsqueeze(0) < t.unsqueeze(1)).to(score.dtype) \
        + 0.5 * (t.unsqueeze(0) == t.unsqueeze(1)).to(score.dtype)  # [B, B]: row i, column j
    ranks = keep.to(score.dtype) @ below.t() + 0.5  # [K, B]
    a = ((ranks - (ranks * m[:, 0]).sum(-1, keepdim=True) / count[:, 0]) * m[:, 0]).unsqueeze(1)  # [K, 1, B]
    rho = (a * c).sum(-1) / (a.norm(dim=-1) * c.norm(dim=-1) + 1e-8)
    return torch.where(keep.sum(-1, keepdim=True) >= 3, rho, 0.0)


def hop_norms(graph_embeddings: Sequence[torch.Tensor]) -> torch.Tensor:
    """[H, B] L1 norms of every hop's graph embeddings [B, d_h], all hops in one pass (for one batched soft rank)."""
    widths = [emb.shape[1] for emb in graph_embeddings]
    joined = torch.cat(list(graph_embeddings), dim=1).abs()  # [B, sum of d_h]
    hop_of_column = torch.repeat_interleave(torch.arange(len(widths), device=joined.device),
                                            torch.tensor(widths, device=joined.device))
    return joined.new_zeros(len(widths), joined.shape[0]).index_add_(0, hop_of_column, joined.t())


def magnitude_ranked_loss(prediction: torch.Tensor, target: torch.Tensor,
                          graph_embeddings: Sequence[torch.Tensor], lam: float = 1.0,
                          temperature: float = 0.1, use_torchsort: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AutoBuild's loss for one batch.

    Args:
        prediction: [B] predicted (standardised) target.
        target: [B] standardised target.
        graph_embeddings: per hop h = 0..L, the graph embedding h_G^h of shape [B, d_h].
        lam: weight of the rank term; 0 gives plain MSE.

    Returns:
        (total loss, MSE term, rank term = mean over hops of 1 - rho_soft), all scalars.
    """
    mse = F.mse_loss(prediction, target)
    if lam == 0.0 or target.numel() < 3:
        return mse, mse, torch.zeros((), device=mse.device)
    norms = hop_norms(graph_embeddings)
    rank = (1.0 - soft_spearman(target, norms, temperature, use_torchsort)).mean()
    return mse + lam * rank, mse, rank
