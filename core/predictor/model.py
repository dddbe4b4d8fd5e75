"""The AutoBuild predictor: FE-MLP -> L message-passing layers -> per-hop graph embeddings -> head.

Mills et al., CVPR 2024, Sec. 3. With node embeddings h_v^0 from the FE-MLP,

    h_v^l = ReLU(BN(Conv_l(h^{l-1}, A)))_v  (+ h_v^{l-1} for l >= 2, residual)
    h_G^l = mean_v h_v^l                        for every hop l = 0..L
    y_hat = MLP(h_G^L)

Message passing follows the directed data-flow edges, so h_v^l summarises the rooted l-hop module
that ends at v (the node and its ancestors within l edges), and ||h_v^l||_1 is that module's raw
score. ReLU keeps every node embedding non-negative, so L1 norms are plain sums.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, GINConv, GraphConv, global_mean_pool

from core.features import FeatureSchema
from core.predictor.batching import DenseBatch, GraphBatch
from core.predictor.config import PredictorConfig
from core.predictor.dense import DenseGraphs, dense_layer
from core.predictor.fe_mlp import FeatureEmbedding
from core.predictor.gatv2_block import gatv2_block


def _gatv2(d_in: int, d_out: int) -> nn.Module:
    # Self-loops are added once per batch by AutoBuildPredictor.forward, not again in every layer.
    return GATv2Conv(d_in, d_out, heads=1, add_self_loops=False)


def _graphconv(d_in: int, d_out: int) -> nn.Module:
    return GraphConv(d_in, d_out, aggr="mean")


def _gin(d_in: int, d_out: int) -> nn.Module:
    return GINConv(nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(), nn.Linear(d_out, d_out)), train_eps=True)


#: GNN layer types by name (the ``--gnn`` option); never resolved with eval.
GNN_LAYERS: dict[str, Callable[[int, int], nn.Module]] = {
    "gatv2": _gatv2,
    "graphconv": _graphconv,
    "gin": _gin,
}

#: The bias each layer type adds last, right before the layer's BatchNorm.
_OUTPUT_BIAS: dict[type, Callable[[nn.Module], torch.Tensor]] = {
    GATv2Conv: lambda conv: conv.bias,
    GraphConv: lambda conv: conv.lin_rel.bias,
    GINConv: lambda conv: conv.nn[-1].bias,
}


def output_bias(conv: nn.Module) -> torch.Tensor:
    """The bias ``conv`` adds last, right before its layer's BatchNorm (which cancels it in training)."""
    return _OUTPUT_BIAS[type(conv)](conv)


def _exact_zero_gradient(grad: torch.Tensor) -> torch.Tensor:
    """The gradient of a bias added right before a BatchNorm that uses batch statistics (training).

    BatchNorm subtracts the batch mean, so the loss does not depend on that bias: its gradient is
    exactly 0. Autograd returns rounding noise instead (about 1e-7), which Adam divides by its own
    running scale into lr-sized steps: the bias random-walked to |b| ~ 1 over a training while
    BatchNorm's running mean, used in eval, lagged behind it. Prediction (eval) never back-propagates.
    """
    return torch.zeros_like(grad)


#: Layers that attend over the node itself as well as its predecessors (GATv2's self-loops).
SELF_LOOP_LAYERS = frozenset({"gatv2"})


@dataclass
class PredictorOutput:
    """prediction [B]; graph_embeddings[h] [B, d_h]; node_embeddings[h] [n, d_h] for h = 0..L."""

    prediction: torch.Tensor
    graph_embeddings: list[torch.Tensor] = field(default_factory=list)
    node_embeddings: list[torch.Tensor] = field(default_factory=list)


class AutoBuildPredictor(nn.Module):
    """FE-MLP + GNN encoder + regression head; see the module docstring for the equations."""

    def __init__(self, schema: FeatureSchema, config: PredictorConfig = PredictorConfig()) -> None:
        super().__init__()
        self.schema = schema
        self.config = config
        self.fe_mlp = FeatureEmbedding(schema, config.fe_hidden)
        make = GNN_LAYERS[config.gnn]
        dims = [self.fe_mlp.out_dim] + [config.width] * config.layers
        self.convs = nn.ModuleList(make(dims[i], dims[i + 1]) for i in range(config.layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(config.width) for _ in range(config.layers))
        self.head = nn.Sequential(nn.Linear(config.width, config.head_hidden), nn.ReLU(),
                                  nn.Linear(config.head_hidden, 1))
        #: Append one self-loop per node to every batch (GATv2 attends over the node itself too).
        self.adds_self_loops = config.gnn in SELF_LOOP_LAYERS
        if config.monotone_init:
            self._align_first_layer()
        for conv in self.convs:
            output_bias(conv).register_hook(_exact_zero_gradient)

    @torch.no_grad()
    def _align_first_layer(self) -> None:
        """Start the first layer's input weights non-negative.

        The rank term wants larger hop-0 values for better architectures, and the hop-1..L terms
        want larger norms there too. Through a first layer with negative weights these pull the
        FE-MLP in opposite directions, and the hop-0 ranking loses (its norm Spearman turns negative).
        Non-negative starting weights make hop-1 activations increase with hop-0 values, so all hops
        agree from the first step; training is free to change the weights afterwards.
        """
        fe_dim = self.fe_mlp.out_dim
        for module in self.convs[0].modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.dim() == 2 and weight.shape[1] == fe_dim:
                weight.abs_()

    @property
    def hops(self) -> int:
        return self.config.layers

    def importance_table(self, numeric_points: int = 5) -> pd.DataFrame:
        """The 0-hop contribution of every feature value (the FE-MLP's; see ``FeatureEmbedding``)."""
        return self.fe_mlp.importance_table(numeric_points)

    def forward(self, batch: GraphBatch | DenseBatch) -> PredictorOutput:
        if isinstance(batch, DenseBatch):
            return self._forward_dense(batch)
        h = self.fe_mlp(batch.x_cat, batch.x_num)
        edge_index = batch.edge_index
        if self.adds_self_loops:
            # Architecture graphs are DAGs (no loops of their own), so appending one loop per node
            # is what GATv2Conv's add_self_loops would do, done once instead of once per layer.
            loops = torch.arange(h.shape[0], device=edge_index.device)
            edge_index = torch.cat([edge_index, loops.expand(2, -1)], dim=1)
        nodes = [h]
        for layer, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            out = torch.relu(norm(conv(h, edge_index)))
            h = out + h if layer >= 1 else out  # residual from layer 2 on (dims match there)
            nodes.append(h)
        graphs = [global_mean_pool(x, batch.batch, size=batch.num_graphs) for x in nodes]
        prediction = self.head(graphs[-1]).squeeze(1)
        return PredictorOutput(prediction, graphs, nodes)

    def _forward_dense(self, batch: DenseBatch) -> PredictorOutput:
        """The same computation on a padded batch (:mod:`core.predictor.dense`); same outputs and order."""
        graphs = DenseGraphs(batch)
        h = self.fe_mlp(batch.x_cat, batch.x_num)
        nodes = [h]
        for layer, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if isinstance(conv, GATv2Conv):  # attention, BatchNorm, ReLU and residual as one autograd node
                h = gatv2_block(conv, norm, h, graphs, residual=layer >= 1)
            else:
                out = torch.relu(norm(dense_layer(conv, h, graphs.scatter(h), graphs)))
                h = out + h if layer >= 1 else out
            nodes.append(h)
        # Every hop pooled at once (one scatter, sum and division instead of one each per hop).
        joined = graphs.mean_pool(graphs.scatter(torch.cat(nodes, dim=1)))
        pooled = list(joined.split([x.shape[1] for x in nodes], dim=1))
        prediction = self.head(pooled[-1]).squeeze(1)
        return PredictorOutput(prediction, pooled, nodes)
