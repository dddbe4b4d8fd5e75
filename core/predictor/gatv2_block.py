"""One predictor layer with GATv2 as a single autograd function: attention, BatchNorm, ReLU, residual.

On a dense batch (:class:`~core.predictor.dense.DenseGraphs`: B graphs of at most n nodes) and
real-node states h [N, d_in] scattered to the padded slots H [B, n, d_in], layer l of
:mod:`core.predictor.model` with a one-head ``GATv2Conv`` (Brody et al., ICLR 2022) is

    XL = H W_l^T + b_l,  XR = H W_r^T + b_r                        what a node sends / attends with [B, n, C]
    e[b,i,j] = att . leaky_relu(XR[b,i] + XL[b,j])  if j in pred(i) + {i}, else -inf        [B, n, n]
    alpha = softmax_j(e),  z = alpha XL + bias                     gathered to the N real nodes  [N, C]
    o   = gamma (z - mu) / sqrt(var + eps) + beta                  BatchNorm over the N real nodes
    out = ReLU(o) (+ h for l >= 2)                                 residual where the widths match

with the *same* PyG ``GATv2Conv`` and ``BatchNorm1d`` parameters and running statistics, attending
over every node's predecessors and itself as :func:`core.predictor.dense._gatv2` does. Both linear
maps are one matmul with the stacked weight [W_l; W_r]; the scores are computed over the padded
[B, n, n, C] pairs with an additive 0 / -inf mask (``DenseGraphs.attention_bias``), which on graphs
of 6-14 nodes costs fewer kernels than gathering the attending pairs (benchmarks/results has both).
The backward is written out (softmax, leaky-ReLU, BatchNorm and ReLU by their fused kernels, the
pair sums as reductions, two matmuls for the weight and input gradients), so a layer is one autograd
node instead of about twenty-five: a training step on these graphs is bound by kernels and autograd
nodes, not by the arithmetic (docs/design.md, section 6). The sums run in another order than PyG's
scatter, so results agree within float tolerance (tests/predictor/test_gatv2_block.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv

from core.predictor.dense import DenseGraphs

_aten = torch.ops.aten


class GATv2BlockFunction(torch.autograd.Function):
    """The layer of the module docstring. ``attention_bias`` [B, n, n]: 0 where i attends to j, -inf
    elsewhere (every row attends to itself); ``real`` [N] (slots of real nodes in [B * n]) or None when
    every slot is real. BatchNorm uses batch statistics and updates the running ones when ``training``."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, attention_bias: torch.Tensor, real: torch.Tensor | None, w_l: torch.Tensor,
                w_r: torch.Tensor, b_l: torch.Tensor, b_r: torch.Tensor, att: torch.Tensor, bias: torch.Tensor,
                gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor,
                training: bool, momentum: float, eps: float, negative_slope: float, residual: bool) -> torch.Tensor:
        b, n, _ = attention_bias.shape
        c = w_l.shape[0]
        weight = torch.cat([w_l, w_r])  # [2C, d_in]: one matmul for both maps
        slots = h if real is None else h.new_zeros(b * n, h.shape[1]).index_copy(0, real, h)
        both = torch.addmm(torch.cat([b_l, b_r]), slots, weight.t()).view(b, n, 2 * c)
        source, target = both[..., :c], both[..., c:]
        # pair[b, i, j] = leaky_relu(XR[b, i] + XL[b, j]) for all n^2 pairs; the mask drops the others.
        pair = torch.add(target.unsqueeze(2), source.unsqueeze(1))
        torch.nn.functional.leaky_relu_(pair, negative_slope)
        scores = torch.addmv(attention_bias.reshape(-1), pair.view(-1, c), att.view(-1))
        alpha = torch.softmax(scores.view(b, n, n), dim=-1)
        z = torch.baddbmm(bias, alpha, source).view(b * n, c)
        if real is not None:
            z = z.index_select(0, real)
        o, save_mean, save_invstd = _aten.native_batch_norm(z, gamma, beta, running_mean, running_var,
                                                            training, momentum, eps)
        relu = torch.relu(o)
        ctx.save_for_backward(slots, real, weight, both, pair, alpha, att, z, gamma, running_mean, running_var,
                              save_mean, save_invstd, relu)
        ctx.settings = (training, eps, negative_slope, residual)
        return relu + h if residual else relu

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (slots, real, weight, both, pair, alpha, att, z, gamma, running_mean, running_var, save_mean, save_invstd,
         relu) = ctx.saved_tensors
        training, eps, negative_slope, residual = ctx.settings
        b, n, _ = alpha.shape
        c = att.shape[-1]
        g_o = _aten.threshold_backward(grad, relu, 0)
        g_z, g_gamma, g_beta = _aten.native_batch_norm_backward(
            g_o, z, gamma, running_mean, running_var, save_mean, save_invstd, training, eps, [True, True, True])
        g_bias = g_z.sum(0)
        if real is not None:
            g_z = g_z.new_zeros(b * n, c).index_copy(0, real, g_z)
        g_z = g_z.view(b, n, c)
        source = both[..., :c]
        g_alpha = torch.bmm(g_z, source.transpose(1, 2))  # [B, n, n]
        g_scores = _aten._softmax_backward_data(g_alpha, alpha, -1, alpha.dtype)  # 0 where masked (alpha = 0)
        g_att = torch.mv(pair.view(-1, c).t(), g_scores.view(-1))
        g_pair = _aten.leaky_relu_backward(g_scores.unsqueeze(-1) * att.view(1, 1, 1, c), pair, negative_slope,
                                           True)  # [B, n, n, C]; the slope keeps the sign, so pair tells
        g_both = torch.cat([torch.baddbmm(g_pair.sum(1), alpha.transpose(1, 2), g_z), g_pair.sum(2)],
                           dim=-1).view(b * n, 2 * c)
        g_weight = g_both.t() @ slots
        g_h = g_both @ weight
        if real is not None:
            g_h = g_h.index_select(0, real)
        if residual:
            g_h = g_h + grad
        g_b = g_both.sum(0)
        return (g_h, None, None, g_weight[:c], g_weight[c:], g_b[:c], g_b[c:], g_att.view_as(att), g_bias, g_gamma,
                g_beta, None, None, None, None, None, None, None)


def gatv2_block(conv: GATv2Conv, norm: nn.BatchNorm1d, h: torch.Tensor, graphs: DenseGraphs,
                residual: bool) -> torch.Tensor:
    """``ReLU(norm(conv(h)))`` (+ ``h`` when ``residual``) for real-node states h [N, d_in] -> [N, C], where
    ``conv`` attends over every node's predecessors and itself (the model appends the self-loops)."""
    if conv.heads != 1 or conv.lin_edge is not None or conv.res is not None:
        raise ValueError("the fused GATv2 layer supports one head, no edge features and no residual")
    if conv.share_weights:
        raise ValueError("the fused GATv2 layer needs separate source and target weights (share_weights=False)")
    if conv.lin_l.bias is None or conv.lin_r.bias is None or conv.bias is None:
        raise ValueError("the fused GATv2 layer needs PyG's default biases")
    if conv.training and conv.dropout > 0:
        raise ValueError("the fused GATv2 layer has no attention dropout; train with dropout=0")
    if norm.momentum is None or not norm.track_running_stats or not norm.affine:
        raise ValueError("the fused GATv2 layer needs an affine BatchNorm with running statistics")
    if norm.training:
        norm.num_batches_tracked.add_(1)  # as BatchNorm1d.forward does
    real = None if graphs.batch.full else graphs.real
    return GATv2BlockFunction.apply(
        h, graphs.attention_bias, real, conv.lin_l.weight, conv.lin_r.weight, conv.lin_l.bias, conv.lin_r.bias,
        conv.att, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var, norm.training,
        norm.momentum, norm.eps, conv.negative_slope, residual)
