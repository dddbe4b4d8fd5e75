"""The training forward pass of K ensemble members at once, written with a member dimension.

:class:`core.predictor.members.MemberTraining` keeps the members' weights stacked ([K, ...] per parameter,
``torch.func.stack_module_state``). Running the model under ``vmap`` with those weights costs about 4 ms of
fixed work per step on this project's 2-core CPU whatever K (the batching layer wraps every operation),
which made 5 members 2.8x one model (docs/decisions.md). This module computes the same thing directly:
node states are kept as [N, K, d] (N real nodes of the batch, K members), so

- linear layers are one batched product per layer: ``einsum("nki,koi->nko")`` with weights [K, out, in];
- BatchNorm over [N, K, C] is one ``batch_norm`` over [N, K*C] (per member and channel, the same batch
  statistics and running-statistic updates as K separate modules);
- message passing shares the batch's adjacency across members: states are scattered as [B, n, K*d] and
  aggregated with one ``bmm`` for all members (``GraphConv``: mean over predecessors; ``GIN``: sum);
- every hop is pooled with one mean over each graph's nodes, as the single model's dense forward does.

It covers the dense batches of the ``graphconv`` and ``gin`` layers (the defaults); other batches and layers
take the ``vmap`` path. tests/predictor/test_member_forward.py checks outputs, gradients and BatchNorm
statistics against the members' own modules.

Shapes: prediction [K, B]; hop norms [K, H, B] with H = layers + 1 (L1 norm of each hop's graph embedding).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.predictor.batching import DenseBatch
from core.predictor.dense import DenseGraphs

#: Layer types with a member-dimension forward here.
STACKED_GNNS = frozenset({"graphconv", "gin"})


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, K, in] through K linear layers (weight [K, out, in], bias [K, out]) -> [N, K, out]."""
    out = torch.einsum("nki,koi->nko", x, weight)
    return out if bias is None else out + bias


def _batch_norm(x: torch.Tensor, p: dict, b: dict, name: str, momentum: float, eps: float) -> torch.Tensor:
    """Training-mode BatchNorm of x [N, K, C] per member and channel; updates the stacked running stats."""
    n, k, c = x.shape
    out = F.batch_norm(x.reshape(n, k * c), b[f"{name}.running_mean"].view(-1), b[f"{name}.running_var"].view(-1),
                       p[f"{name}.weight"].reshape(-1), p[f"{name}.bias"].reshape(-1), True, momentum, eps)
    with torch.no_grad():
        b[f"{name}.num_batches_tracked"].add_(1)
    return out.view(n, k, c)


def _feature_embedding(p: dict, batch: DenseBatch, offsets: torch.Tensor, categorical: int,
                       numeric: int) -> torch.Tensor:
    """The FE-MLP of every member (core.predictor.fe_mlp.FeatureEmbedding) -> [N, K, C + M], >= 0."""
    parts = []
    if categorical:
        table = torch.cat([p[f"fe_mlp.categorical.{i}.weight"] for i in range(categorical)], dim=1)[..., 0]
        index = (batch.x_cat + offsets).reshape(-1)
        parts.append(table.index_select(1, index).view(table.shape[0], *batch.x_cat.shape).permute(1, 0, 2))
    for i in range(numeric):
        w0, b0 = p[f"fe_mlp.numeric.{i}.0.weight"][..., 0], p[f"fe_mlp.numeric.{i}.0.bias"]  # [K, h] each
        hidden = torch.relu(batch.x_num[:, i, None, None] * w0 + b0)  # [N, K, h]
        w2, b2 = p[f"fe_mlp.numeric.{i}.2.weight"][:, 0], p[f"fe_mlp.numeric.{i}.2.bias"][:, 0]
        parts.append((torch.einsum("nkh,kh->nk", hidden, w2) + b2).unsqueeze(-1))
    return (torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]).abs()


def stacked_forward(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], batch: DenseBatch,
                    gnn: str, layers: int, offsets: torch.Tensor, categorical: int, numeric: int,
                    momentum: float = 0.1, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """(prediction [K, B], hop norms [K, layers + 1, B]) of the stacked members in training mode.

    ``params``/``buffers`` are ``stack_module_state``'s dicts of an ``AutoBuildPredictor``; ``offsets`` its
    FE-MLP's categorical table offsets; ``categorical``/``numeric`` its feature counts; ``momentum``/``eps``
    its BatchNorm settings."""
    if gnn not in STACKED_GNNS:
        raise ValueError(f"no member-dimension forward for gnn={gnn!r}")
    p, graphs = params, DenseGraphs(batch)
    h = _feature_embedding(p, batch, offsets, categorical, numeric)
    n, k = h.shape[0], h.shape[1]
    nodes = [h]
    for layer in range(layers):
        name = f"convs.{layer}"
        adjacency = graphs.mean_adj if gnn == "graphconv" else graphs.adj
        aggregated = graphs.gather(torch.bmm(adjacency, graphs.scatter(h.reshape(n, -1)))).view(n, k, -1)
        if gnn == "graphconv":
            out = (_linear(aggregated, p[f"{name}.lin_rel.weight"], p[f"{name}.lin_rel.bias"])
                   + _linear(h, p[f"{name}.lin_root.weight"]))
        else:
            z = aggregated + (1 + p[f"{name}.eps"].view(1, k, 1)) * h
            z = torch.relu(_linear(z, p[f"{name}.nn.0.weight"], p[f"{name}.nn.0.bias"]))
            out = _linear(z, p[f"{name}.nn.2.weight"], p[f"{name}.nn.2.bias"])
        out = torch.relu(_batch_norm(out, p, buffers, f"norms.{layer}", momentum, eps))
        h = out + h if layer >= 1 else out
        nodes.append(h)
    widths = [x.shape[-1] for x in nodes]
    joined = graphs.mean_pool(graphs.scatter(torch.cat(nodes, dim=-1).reshape(n, -1)))  # [B, K * sum(widths)]
    pooled = joined.view(joined.shape[0], k, -1).split(widths, dim=-1)  # per hop [B, K, d_h]
    norms = torch.stack([g.abs().sum(-1) for g in pooled]).permute(2, 0, 1)  # [K, H, B]
    hidden = torch.relu(_linear(pooled[-1], p["head.0.weight"], p["head.0.bias"]))
    prediction = _linear(hidden, p["head.2.weight"], p["head.2.bias"])[..., 0].T  # [K, B]
    return prediction, norms
