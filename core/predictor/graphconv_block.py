"""One predictor layer with GraphConv as a single autograd function: conv, BatchNorm, ReLU, residual.

On a dense batch (:class:`~core.predictor.dense.DenseGraphs`: B graphs of at most n nodes, mean
adjacency M [B, n, n]) and real-node states h [N, d_in], layer l of :mod:`core.predictor.model` is

    z   = M (h W_rel^T) + h W_root^T + b           GraphConv, mean aggregation   [N, d]
    o   = gamma (z - mu) / sqrt(var + eps) + beta   BatchNorm over the N real nodes
    out = ReLU(o) (+ h for l >= 2)                  residual where the widths match

with the *same* PyG ``GraphConv`` and ``BatchNorm1d`` parameters and running statistics. Aggregating
after the linear map (M (h W^T) = (M h) W^T) lets both linear maps be one matmul with the
stacked weight [W_rel; W_root]. The backward is written out (two matmuls, one batched matmul, the
fused BatchNorm and ReLU kernels), so a layer is one autograd node instead of about fifteen: on
graphs of 6-14 nodes a training step is bound by the number of kernels and autograd nodes, not by
the arithmetic (docs/design.md, section 6). The sums run in another order than PyG's, so results
agree within float tolerance (tests/predictor/test_graphconv_block.py). One deliberate difference: in
training the gradient of b is returned as the exact 0 it is (BatchNorm removes any shift), where
autograd returns rounding noise that Adam would turn into lr-sized random steps of b.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GraphConv

from core.predictor.dense import DenseGraphs, start_fused_batch_norm

_aten = torch.ops.aten


class GraphConvBlockFunction(torch.autograd.Function):
    """The layer of the module docstring; ``real`` [N] (slots of real nodes in [B * n]) or None when
    every slot is real. BatchNorm uses batch statistics and updates the running ones when ``training``."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, mean_adj: torch.Tensor, real: torch.Tensor | None, w_rel: torch.Tensor,
                w_root: torch.Tensor, bias: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                running_mean: torch.Tensor, running_var: torch.Tensor, training: bool, momentum: float,
                eps: float, residual: bool) -> torch.Tensor:
        b, n, _ = mean_adj.shape
        d = w_rel.shape[0]
        weight = torch.cat([w_rel, w_root])  # [2d, d_in]: one matmul for both maps
        both = torch.addmm(torch.cat([torch.zeros_like(bias), bias]), h, weight.t())  # [N, 2d]
        if real is None:
            padded = both.view(b, n, 2 * d)
            z = torch.baddbmm(padded[..., d:], mean_adj, padded[..., :d]).view(b * n, d)
        else:
            sent = both.new_zeros(b * n, d).index_copy(0, real, both[:, :d]).view(b, n, d)
            z = torch.bmm(mean_adj, sent).view(b * n, d).index_select(0, real) + both[:, d:]
        o, save_mean, save_invstd = _aten.native_batch_norm(z, gamma, beta, running_mean, running_var,
                                                            training, momentum, eps)
        relu = torch.relu(o)
        ctx.save_for_backward(h, mean_adj, real, weight, z, gamma, running_mean, running_var, save_mean,
                              save_invstd, relu)
        ctx.settings = (training, eps, residual, d)
        return relu + h if residual else relu

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, mean_adj, real, weight, z, gamma, running_mean, running_var, save_mean, save_invstd, relu = \
            ctx.saved_tensors
        training, eps, residual, d = ctx.settings
        b, n, _ = mean_adj.shape
        g_o = _aten.threshold_backward(grad, relu, 0)
        g_z, g_gamma, g_beta = _aten.native_batch_norm_backward(
            g_o, z, gamma, running_mean, running_var, save_mean, save_invstd, training, eps, [True, True, True])
        g_both = torch.empty(h.shape[0], 2 * d, dtype=grad.dtype, device=grad.device)
        adj_t = mean_adj.transpose(1, 2)
        if real is None:
            g_both.view(b, n, 2 * d)[..., :d].copy_(torch.bmm(adj_t, g_z.view(b, n, d)))
        else:
            padded = g_z.new_zeros(b * n, d).index_copy(0, real, g_z).view(b, n, d)
            g_both[:, :d].copy_(torch.bmm(adj_t, padded).view(b * n, d).index_select(0, real))
        g_both[:, d:].copy_(g_z)
        g_weight = g_both.t() @ h
        g_h = g_both @ weight
        if residual:
            g_h = g_h + grad
        # Under batch statistics the output does not depend on b (BatchNorm subtracts the batch mean), so
        # its gradient is exactly 0; the summed g_z would be rounding noise, which Adam scales up to
        # lr-sized steps: b would random-walk and the running mean, which lags it, drift from it.
        g_bias = torch.zeros_like(g_z[0]) if training else g_z.sum(0)
        return (g_h, None, None, g_weight[:d], g_weight[d:], g_bias, g_gamma, g_beta,
                None, None, None, None, None, None)


def graphconv_block(conv: GraphConv, norm: nn.BatchNorm1d, h: torch.Tensor, graphs: DenseGraphs,
                    residual: bool) -> torch.Tensor:
    """``ReLU(norm(conv(h)))`` (+ ``h`` when ``residual``) for real-node states h [N, d_in] -> [N, d]."""
    if conv.aggr != "mean" or conv.lin_root.bias is not None or conv.lin_rel.bias is None:
        raise ValueError("the fused GraphConv layer needs mean aggregation and PyG's default biases")
    start_fused_batch_norm(norm, "GraphConv")
    real = None if graphs.batch.full else graphs.real
    return GraphConvBlockFunction.apply(
        h, graphs.mean_adj, real, conv.lin_rel.weight, conv.lin_root.weight, conv.lin_rel.bias, norm.weight,
        norm.bias, norm.running_mean, norm.running_var, norm.training, norm.momentum, norm.eps, residual)
