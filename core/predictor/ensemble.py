"""A deep ensemble of AutoBuild predictors, read as one predictor (docs/design.md, section 2.10).

One predictor's module ranking depends on its random start: two seeds trained on the same table can
share under a tenth of their hop-1 top ten. An ensemble of K members (Lakshminarayanan et al., NeurIPS
2017), each started from its own random weights and trained on the same table, averages that
instability away and measures it: the members' spread is the interval a score or a prediction is shown
with.

The ensemble is an ``nn.Module`` with the interface of :class:`~core.predictor.model.AutoBuildPredictor`
(``forward`` -> :class:`~core.predictor.model.PredictorOutput`, ``hops``, ``schema``, ``config``), so
every consumer (predictions, module scores, builds) reads it unchanged. Its outputs are

    prediction      = mean_k w_k y_hat_k / mean_k w_k                       (w_k: member k's head is used)
    node_embeddings = [ h_v^h(k) * s_kh ]_k concatenated, s_kh = u_kh / (sum_j u_jh * sigma_kh)

with sigma_kh the std of member k's hop-h node norms over the training nodes and u_kh in {0, 1} whether
member k is used at hop h. The L1 norm of a concatenated node embedding is then
``sum_k u_kh ||h_v^h(k)||_1 / sigma_kh / sum_j u_jh``, the mean over the used members of their
scale-free node norms, so a module's ensemble score orders modules exactly as the mean of the members'
standardised scores does (docs/design.md 2.7). ``member_outputs`` gives each member's own outputs for
the spreads.

Members are trained together by :mod:`core.predictor.train` (as one model with a member dimension,
:mod:`core.predictor.member_forward`, or under ``torch.func.vmap``); a member that collapsed at a hop is not used there (:mod:`core.predictor.collapse`).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.features import FeatureSchema
from core.predictor.batching import DenseBatch, GraphBatch
from core.predictor.config import PredictorConfig
from core.predictor.model import AutoBuildPredictor, PredictorOutput


class EnsemblePredictor(nn.Module):
    """K :class:`AutoBuildPredictor` members read as one; see the module docstring for the equations.

    Buffers: ``hop_used`` [K, L+1] (1 where member k's hop h counts), ``head_used`` [K] (1 where member
    k's prediction counts), ``norm_mean``, ``norm_std`` [K, L+1] (mu_kh, sigma_kh: member k's hop-h
    node-norm moments on the training nodes, its own hop moments). :func:`core.predictor.train.train_predictor`
    sets them.
    """

    def __init__(self, schema: FeatureSchema, config: PredictorConfig = PredictorConfig()) -> None:
        super().__init__()
        self.schema = schema
        self.config = config
        one = dataclasses.replace(config, members=1)
        self.members = nn.ModuleList(AutoBuildPredictor(schema, one) for _ in range(config.members))
        k, hops = config.members, config.layers + 1
        self.register_buffer("hop_used", torch.ones(k, hops))
        self.register_buffer("head_used", torch.ones(k))
        self.register_buffer("norm_mean", torch.zeros(k, hops))
        self.register_buffer("norm_std", torch.ones(k, hops))

    @property
    def hops(self) -> int:
        return self.config.layers

    def member_outputs(self, batch: GraphBatch | DenseBatch) -> list[PredictorOutput]:
        """Every member's own outputs for ``batch`` (raw norms, standardised predictions)."""
        return [member(batch) for member in self.members]

    def scales(self) -> torch.Tensor:
        """s [K, L+1]: what member k's hop-h embeddings are multiplied by in the joint embedding."""
        used = self.hop_used
        return used / (used.sum(0, keepdim=True).clamp_min(1.0) * self.norm_std)

    def forward(self, batch: GraphBatch | DenseBatch) -> PredictorOutput:
        outs = self.member_outputs(batch)
        scale = self.scales()
        head = self.head_used / self.head_used.sum().clamp_min(1.0)
        prediction = sum(w * out.prediction for w, out in zip(head, outs))
        graphs = [torch.cat([out.graph_embeddings[h] * scale[k, h] for k, out in enumerate(outs)], dim=1)
                  for h in range(self.hops + 1)]
        nodes = [torch.cat([out.node_embeddings[h] * scale[k, h] for k, out in enumerate(outs)], dim=1)
                 for h in range(self.hops + 1)]
        return PredictorOutput(prediction, graphs, nodes)

    @torch.no_grad()
    def importance_table(self, numeric_points: int = 5) -> pd.DataFrame:
        """The 0-hop contribution of every feature value, as the ensemble's hop-0 embedding weighs it
        (the used members' contributions, each divided by its hop-0 norm scale, summed); ``spread``:
        the members' std of their own scale-free contributions."""
        scale = self.scales()[:, 0]
        tables = [m.importance_table(numeric_points) for m in self.members]
        stacked = np.stack([t["importance"].to_numpy() for t in tables])  # [K, values]
        table = tables[0][["feature", "value"]].copy()
        table["importance"] = (stacked * scale.cpu().numpy()[:, None]).sum(0)
        free = stacked / self.norm_std[:, 0].cpu().numpy()[:, None]
        table["spread"] = free.std(0, ddof=1) if len(free) > 1 else 0.0
        return table


#: Either form a run holds.
Predictor = AutoBuildPredictor | EnsemblePredictor


def build_predictor(schema: FeatureSchema, config: PredictorConfig) -> Predictor:
    """The predictor a config describes: one model for ``members == 1`` (every run before ensembles), else
    an ensemble of ``members``."""
    if config.members == 1:
        return AutoBuildPredictor(schema, config)
    return EnsemblePredictor(schema, config)
