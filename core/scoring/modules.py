"""Module scores per hop and the ranking tables built from them (docs/design.md 2.7).

For a trained run, a node ``v``'s hop-``h`` embedding summarises the rooted module of ``h + 1``
levels ending at ``v``. Its score is the L1 norm standardised with the run's hop moments
(mean ``mu_h`` and std ``sigma_h`` of node norms at hop ``h`` over the training nodes):

    s_v^h = (||h_v^h||_1 - mu_h) / sigma_h

so scores of different hops are comparable (about N(0, 1) over the training nodes). Because the
magnitude-ranked loss made norms grow with the target at every hop, a high score means "this module
sits in good architectures". Aggregating ``s_v^h`` by module signature over many architectures gives
one ranking table per hop: mean, std and count of the score, and the mean target of the
architectures that contain the module.

Scoring runs in large batches over encoded graphs: the 26,206 NAS-Bench-Graph architectures score in
seconds on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.train import one_thread
from core.runs.run import Run


@dataclass
class ModuleScores:
    """Scores of every node at every hop, and their aggregation by module.

    nodes: one row per (architecture, node, hop): ``arch_index``, ``node``, ``hop``, ``signature``,
        ``label`` (the node's own label), ``score`` (standardised), ``norm`` (raw L1 norm).
    rankings: one row per (hop, signature), best first within each hop: ``hop``, ``signature``,
        ``description``, ``mean_score``, ``std_score``, ``count`` (occurrences), ``architectures``
        (distinct architectures containing it), ``mean_target`` (NaN when no targets were given).
    feature_importance: the FE-MLP's 0-hop contribution of every feature value.
    """

    nodes: pd.DataFrame
    rankings: pd.DataFrame
    feature_importance: pd.DataFrame

    def ranking(self, hop: int) -> pd.DataFrame:
        return self.rankings[self.rankings["hop"] == hop].reset_index(drop=True)


@torch.no_grad()
def node_scores(run: Run, store: EncodedGraphs, batch_size: int = 4096) -> np.ndarray:
    """Standardised scores ``s_v^h`` of every node of ``store``, shape [total nodes, L+1], store order."""
    model = run.model
    device = next(model.parameters()).device
    model.eval()
    mean = torch.tensor([m for m, _ in run.hop_moments], dtype=torch.float32)
    std = torch.tensor([s for _, s in run.hop_moments], dtype=torch.float32)
    out = []
    for start in range(0, len(store), batch_size):
        ids = torch.arange(start, min(start + batch_size, len(store)))
        with one_thread():  # scores do not depend on torch's thread setting
            emb = model(store.model_batch(ids).to(device)).node_embeddings
        norms = torch.stack([x.abs().sum(dim=1) for x in emb], dim=1).cpu()
        out.append((norms - mean) / std)
    return torch.cat(out).numpy()


def architecture_scores(run: Run, graph: ArchGraph) -> np.ndarray:
    """Scores of one architecture's nodes, shape [num_nodes, L+1] (for the graph view)."""
    return node_scores(run, EncodedGraphs([graph], run.schema))


def score_modules(run: Run, graphs: Sequence[ArchGraph], targets: Sequence[float] | None = None,
                  batch_size: int = 4096, progress: Callable[[str, float], None] | None = None
                  ) -> ModuleScores:
    """Score every node of ``graphs`` at every hop and rank the modules (see the module docstring).

    ``targets`` [G] (optional) gives each architecture's target, for the ``mean_target`` column.
    ``progress(stage, fraction)`` is called as the work advances.
    """
    hops = run.hops
    report = progress or (lambda stage, fraction: None)
    report("encoding", 0.0)
    store = EncodedGraphs(graphs, run.schema)
    report("scoring", 0.3)
    scores = node_scores(run, store, batch_size)  # [N, L+1]
    report("signatures", 0.6)
    counts = store.node_counts.numpy()
    arch_index = np.repeat(np.arange(len(graphs)), counts)
    node = np.concatenate([np.arange(c) for c in counts])
    signatures: list[list[str]] = [[] for _ in range(hops + 1)]
    labels: list[str] = []
    descriptions: dict[str, str] = {}
    for g in graphs:
        sig = g.signatures(hops)
        for h in range(hops + 1):
            signatures[h].extend(sig[h])
            for v, s in enumerate(sig[h]):
                if s not in descriptions:
                    descriptions[s] = g.module_description(v, h)
        labels.extend(g.labels)
    report("ranking", 0.9)
    n = len(arch_index)
    norms = np.empty_like(scores)
    for h, (mu, sd) in enumerate(run.hop_moments):
        norms[:, h] = scores[:, h] * sd + mu
    nodes = pd.DataFrame({
        "arch_index": np.tile(arch_index, hops + 1),
        "node": np.tile(node, hops + 1),
        "hop": np.repeat(np.arange(hops + 1), n),
        "signature": np.concatenate([np.asarray(s, dtype=object) for s in signatures]),
        "label": np.tile(np.asarray(labels, dtype=object), hops + 1),
        "score": scores.T.reshape(-1),
        "norm": norms.T.reshape(-1),
    })
    rankings = rank_modules(nodes, descriptions, targets)
    report("done", 1.0)
    return ModuleScores(nodes, rankings, run.model.fe_mlp.importance_table())


def rank_modules(nodes: pd.DataFrame, descriptions: dict[str, str],
                 targets: Sequence[float] | None = None) -> pd.DataFrame:
    """Aggregate node scores by (hop, signature) into ranking tables, best mean score first per hop."""
    grouped = nodes.groupby(["hop", "signature"], sort=False)
    table = grouped["score"].agg(mean_score="mean", std_score="std", count="size").reset_index()
    table["std_score"] = table["std_score"].fillna(0.0)
    table["architectures"] = grouped["arch_index"].nunique().to_numpy()
    if targets is not None:
        y = np.asarray(targets, dtype=np.float64)
        # Each architecture counts once per module, however often the module occurs in it.
        unique = nodes[["hop", "signature", "arch_index"]].drop_duplicates()
        unique = unique.assign(target=y[unique["arch_index"].to_numpy()])
        mean_target = unique.groupby(["hop", "signature"], sort=False)["target"].mean()
        table = table.join(mean_target.rename("mean_target"), on=["hop", "signature"])
    else:
        table["mean_target"] = np.nan
    table.insert(2, "description", table["signature"].map(descriptions))
    table = table.sort_values(["hop", "mean_score"], ascending=[True, False], kind="stable")
    return table.reset_index(drop=True)
