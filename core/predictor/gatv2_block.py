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
over every node's predecessors and itself (:attr:`DenseGraphs.attention_rows`). Both linear
maps are one matmul with the stacked weight [W_l; W_r]; scores are computed for the P attending pairs
only (gathered rows), not over all [B, n, n, C] pairs: the broadcast sum over all pairs
and its backward cost more than the whole autograd layer on NAS-Bench-201 batches (128 graphs x 8
nodes x 32). The softmax runs on the transposed [B, j, i] scores, where it is vectorised over i.
The backward is written out (softmax, leaky-ReLU, BatchNorm and ReLU by their fused kernels, the
pair sums as two index_adds, two matmuls for the weight and input gradients), so a layer is one
autograd node instead of about twenty: a training step on these graphs is bound by kernels and
autograd nodes, not by the arithmetic (docs/design.md, section 6). The sums run in another order
than PyG's scatter, so results agree within float tolerance (tests/predictor/test_gatv2_block.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv

from core.predictor.dense import DenseGraphs

_aten = torch.ops.aten


class GATv2BlockFunction(torch.autograd.Function):
    """The layer of the module docstring. ``rows``: :attr:`DenseGraphs.attention_rows` (the P attending
    pairs' score slots in [B, n_j, n_i] and their target and source rows in the [2 B n, C] states);
    ``real`` [N] (slots of real nodes in [B * n]) or None when every slot is real. BatchNorm uses batch
    statistics and updates the running ones when ``training``."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b: int, n: int,
                real: torch.Tensor | None, w_l: torch.Tensor, w_r: torch.Tensor, b_l: torch.Tensor, b_r: torch.Tensor,
                att: torch.Tensor, bias: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                running_mean: torch.Tensor, running_var: torch.Tensor, training: bool, momentum: float, eps: float,
                negative_slope: float, residual: bool) -> torch.Tensor:
        score_slot, target_row, source_row = rows
        c = w_l.shape[0]
        weight = torch.cat([w_l, w_r])  # [2C, d_in]: one matmul for both maps
        slots = h if real is None else h.new_zeros(b * n, h.shape[1]).index_copy(0, real, h)
        both = torch.addmm(torch.cat([b_l, b_r]), slots, weight.t())  # [B n, 2C] = [XL | XR]
        states = both.view(2 * b * n, c)  # row 2k: what slot k sends (XL), row 2k + 1: what it attends with (XR)
        pair = states.index_select(0, target_row).add_(states.index_select(0, source_row))  # [P, C]
        torch.nn.functional.leaky_relu_(pair, negative_slope)
        scores = torch.mv(pair, att.view(-1))
        # Transposed [B, j, i]: softmax over dim 1 runs vectorised over i, over the last dim of 8 it does not.
        logits_t = scores.new_full((b * n * n,), float("-inf")).index_copy_(0, score_slot, scores).view(b, n, n)
        alpha_t = torch.softmax(logits_t, dim=1)
        source = both[:, :c].contiguous().view(b, n, c)  # contiguous: the batched matmuls run faster on it
        z = torch.baddbmm(bias, alpha_t.transpose(1, 2), source).view(b * n, c)
        if real is not None:
            z = z.index_select(0, real)
        o, save_mean, save_invstd = _aten.native_batch_norm(z, gamma, beta, running_mean, running_var,
                                                            training, momentum, eps)
        relu = torch.relu(o)
        ctx.save_for_backward(slots, real, weight, source, pair, alpha_t, att, z, gamma, running_mean, running_var,
                              save_mean, save_invstd, relu, score_slot, target_row, source_row)
        ctx.settings = (training, eps, negative_slope, residual)
        return relu + h if residual else relu

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (slots, real, weight, source, pair, alpha_t, att, z, gamma, running_mean, running_var, save_mean, save_invstd,
         relu, score_slot, target_row, source_row) = ctx.saved_tensors
        training, eps, negative_slope, residual = ctx.settings
        b, n, _ = alpha_t.shape
        c = att.shape[-1]
        g_o = _aten.threshold_backward(grad, relu, 0)
        g_z, g_gamma, g_beta = _aten.native_batch_norm_backward(
            g_o, z, gamma, running_mean, running_var, save_mean, save_invstd, training, eps, [True, True, True])
        g_bias = g_z.sum(0)  # rounding noise in training; the model replaces it by the exact 0 (model.py)
        if real is not None:
            g_z = g_z.new_zeros(b * n, c).index_copy(0, real, g_z)
        g_z = g_z.view(b, n, c)
        g_alpha_t = torch.bmm(source, g_z.transpose(1, 2))  # [B, j, i]
        g_logits_t = _aten._softmax_backward_data(g_alpha_t, alpha_t, 1, alpha_t.dtype)
        g_scores = g_logits_t.view(-1).index_select(0, score_slot)  # [P]
        g_att = torch.mv(pair.t(), g_scores)
        # leaky_relu keeps the sign, so its output tells the slope as well as its input would.
        g_pair = _aten.leaky_relu_backward(g_scores.unsqueeze(1) * att.view(1, c), pair, negative_slope, True)
        g_states = torch.zeros(2 * b * n, c, dtype=grad.dtype, device=grad.device)
        g_states.index_add_(0, target_row, g_pair).index_add_(0, source_row, g_pair)
        g_both = g_states.view(b * n, 2 * c)
        g_both[:, :c].add_(torch.bmm(alpha_t, g_z).view(b * n, c))  # what each source sent, weighted
        g_weight = g_both.t() @ slots
        g_h = g_both @ weight
        if real is not None:
            g_h = g_h.index_select(0, real)
        if residual:
            g_h = g_h + grad
        g_b = g_both.sum(0)
        return (g_h, None, None, None, None, g_weight[:c], g_weight[c:], g_b[:c], g_b[c:], g_att.view_as(att), g_bias,
                g_gamma, g_beta, None, None, None, None, None, None, None)


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
        h, graphs.attention_rows, graphs.b, graphs.n, real, conv.lin_l.weight, conv.lin_r.weight, conv.lin_l.bias, conv.lin_r.bias,
        conv.att, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var, norm.training,
        norm.momentum, norm.eps, conv.negative_slope, residual)
