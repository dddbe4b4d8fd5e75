"""Every member's node norms and predictions from one inference pass (docs/design.md 6.1).

Scoring reads node-embedding norms; the rankings' estimate and a cell build's op order read predictions.
Both come out of the same ``member(batch)`` call, so a caller that needs both (a cell build over the
26,206 NAS-Bench-Graph architectures) runs the members once over the store instead of twice.

Shapes: ``norms`` [K, N, L+1], the L1 norm of every node's embedding at every hop (N nodes of the store,
in its order); ``predictions`` [K, G], standardised (the run's target moments turn them into the target's
units); K = 1 for a single predictor.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.predictor.batching import EncodedGraphs
from core.predictor.ensemble import EnsemblePredictor, Predictor
from core.predictor.train import one_thread


@dataclass(frozen=True)
class MemberOutputs:
    """norms [K, N, L+1] (None when not asked for); predictions [K, G] standardised (None when not asked)."""

    norms: np.ndarray | None
    predictions: np.ndarray | None


@torch.no_grad()
def member_outputs(model: Predictor, store: EncodedGraphs, batch_size: int = 4096, *, norms: bool = True,
                   predictions: bool = True) -> MemberOutputs:
    """Run every member of ``model`` once over ``store`` in batches of ``batch_size`` graphs, keeping what
    is asked for, on one CPU thread (:func:`core.predictor.train.one_thread`: scores and predictions do not
    depend on torch's thread setting)."""
    device = next(model.parameters()).device
    model.eval()
    members = list(model.members) if isinstance(model, EnsemblePredictor) else [model]
    node_norms, values = [], []
    for start in range(0, len(store), batch_size):
        batch = store.model_batch(torch.arange(start, min(start + batch_size, len(store)))).to(device)
        with one_thread():
            outs = [member(batch) for member in members]
        if norms:
            node_norms.append(torch.stack([torch.stack([x.abs().sum(dim=1) for x in o.node_embeddings], dim=1)
                                           for o in outs]))
        if predictions:
            values.append(torch.stack([o.prediction for o in outs]))
    k, hops = len(members), model.hops + 1
    return MemberOutputs(
        (torch.cat(node_norms, dim=1).cpu().double().numpy() if node_norms else np.zeros((k, 0, hops)))
        if norms else None,
        (torch.cat(values, dim=1).cpu().double().numpy() if values else np.zeros((k, 0)))
        if predictions else None,
    )
