"""Module scores per hop and the ranking tables built from them (docs/design.md 2.7).

For a trained run, a node ``v``'s hop-``h`` embedding summarises the rooted module of ``h + 1``
levels ending at ``v``. Its score is the L1 norm standardised with the predictor's hop moments
(mean ``mu_h`` and std ``sigma_h`` of node norms at hop ``h`` over the training nodes):

    s_v^h = (||h_v^h||_1 - mu_h) / sigma_h

so scores of different hops are comparable (about N(0, 1) over the training nodes). An ensemble's score is
the mean of its members' own ``s_v^h`` (each with its own moments); the members' lowest and highest are
the interval a ranking shows. Because the
magnitude-ranked loss made norms grow with the target at every hop, a high score means "this module
sits in good architectures". Aggregating ``s_v^h`` by module signature over many architectures gives
one ranking table per hop: mean, std and count of the score, and the mean target of the
architectures that contain the module.

A ranking is ordered by what it promises, each module's mean target over the whole space, estimated with
the predictor's help (:mod:`core.scoring.space_estimate`): on tables of 300 NAS-Bench-Graph
architectures that estimate agrees with the truth better than the score, the table's own mean target or
any mix of the two (benchmarks/results/ranking_stability.md). The score stays AutoBuild's module
reading, the one builds use.

Scoring runs in large batches over encoded graphs: the 26,206 NAS-Bench-Graph architectures score in
seconds on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.ensemble import EnsemblePredictor, Predictor
from core.predictor.member_outputs import member_outputs
from core.runs.run import Run
from core.scoring.space_estimate import SpaceEstimate, covers_space, estimate_modules


@dataclass
class ModuleScores:
    """Scores of every node at every hop, and their aggregation by module.

    nodes: one row per (architecture, node, hop): ``arch_index``, ``node``, ``hop``, ``signature``,
        ``label`` (the node's own label), ``score`` (standardised), ``norm`` (raw L1 norm).
    rankings: one row per (hop, signature), in each hop's ranking order (:func:`rank_modules` lists the
        columns and the rule).
    feature_importance: the FE-MLP's 0-hop contribution of every feature value.
    reliability: one row per hop, how far its ranking can be trusted (:func:`hop_reliability`).
    """

    nodes: pd.DataFrame
    rankings: pd.DataFrame
    feature_importance: pd.DataFrame
    reliability: pd.DataFrame

    def ranking(self, hop: int) -> pd.DataFrame:
        return self.rankings[self.rankings["hop"] == hop].reset_index(drop=True)


def member_norms(model: Predictor, store: EncodedGraphs, batch_size: int = 4096) -> np.ndarray:
    """Raw node-embedding L1 norms [K, total nodes, L+1] of every member (K = 1 for a single predictor)."""
    return member_outputs(model, store, batch_size, predictions=False).norms


def _standardised(run: Run, norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(run scores [N, L+1], member scores [K, N, L+1]) from member norms [K, N, L+1].

    A member's score is its own norm standardised with its own hop moments. A single predictor's score is
    its norm standardised with the run's hop moments (the same thing); an ensemble's is the mean of its
    members' scores over the members used at the hop (:mod:`core.predictor.ensemble`), so it always lies
    within the members' range."""
    model = run.model
    if not isinstance(model, EnsemblePredictor):
        mean = np.array([m for m, _ in run.hop_moments])
        std = np.array([s for _, s in run.hop_moments])
        scores = (norms[0] - mean) / std
        return scores, scores[None]
    member_mean = model.norm_mean.cpu().double().numpy()[:, None, :]
    member_std = model.norm_std.cpu().double().numpy()[:, None, :]
    members = (norms - member_mean) / member_std
    used = model.hop_used.cpu().double().numpy()[:, None, :]
    return (members * used).sum(0) / used.sum(0), members


def node_scores(run: Run, store: EncodedGraphs, batch_size: int = 4096) -> np.ndarray:
    """Standardised scores ``s_v^h`` of every node of ``store``, shape [total nodes, L+1], store order."""
    return _standardised(run, member_norms(run.model, store, batch_size))[0]


def architecture_scores(run: Run, graph: ArchGraph) -> np.ndarray:
    """Scores of one architecture's nodes, shape [num_nodes, L+1] (for the graph view)."""
    return node_scores(run, EncodedGraphs([graph], run.schema))


def score_modules(run: Run, graphs: Sequence[ArchGraph], targets: Sequence[float] | None = None,
                  pool: Sequence[ArchGraph] = (), batch_size: int = 4096,
                  progress: Callable[[str, float], None] | None = None) -> ModuleScores:
    """Score every node of ``graphs`` at every hop and rank the modules (see the module docstring).

    ``targets`` [G] (optional) gives each architecture's target, for the ``mean_target`` column and the
    estimate's correction; ``pool``: further architectures of the space for the estimate's model part
    (:func:`core.scoring.space_estimate.draw_pool`; empty: the table alone). The order is
    :func:`rank_modules`'. ``progress(stage, fraction)`` is called as the work advances.
    """
    hops = run.hops
    report = progress or (lambda stage, fraction: None)
    report("encoding", 0.0)
    store = EncodedGraphs(graphs, run.schema)
    report("scoring", 0.3)
    norms = member_norms(run.model, store, batch_size)  # [K, N, L+1]
    scores, member_scores = _standardised(run, norms)
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
    # The predictor's own node norm: an ensemble's joint one (the members' scale-free norms averaged).
    scale = run.model.scales().cpu().double().numpy()[:, None, :] if isinstance(run.model, EnsemblePredictor) else 1.0
    raw = (norms * scale).sum(0)
    nodes = pd.DataFrame({
        "arch_index": np.tile(arch_index, hops + 1),
        "node": np.tile(node, hops + 1),
        "hop": np.repeat(np.arange(hops + 1), n),
        "signature": np.concatenate([np.asarray(s, dtype=object) for s in signatures]),
        "label": np.tile(np.asarray(labels, dtype=object), hops + 1),
        "score": scores.T.reshape(-1),
        "norm": raw.T.reshape(-1),
    })
    # Member scores in the rows' order (hop-major, then node): [K, (L+1) N].
    by_member = member_scores.transpose(0, 2, 1).reshape(member_scores.shape[0], -1)
    report("estimating", 0.93)
    table_holders = nodes[["hop", "signature", "arch_index"]].drop_duplicates().rename(columns={"arch_index": "arch"})
    rows = pd.MultiIndex.from_frame(nodes.groupby(["hop", "signature"], sort=False).size().reset_index()[["hop", "signature"]])
    census = covers_space(run, [g.spec for g in graphs], len(pool))
    estimate = estimate_modules(run, table_holders, store, targets, pool, rows, batch_size, census)
    rankings = rank_modules(nodes, descriptions, targets, by_member, estimate)
    reliability = hop_reliability(run, rankings, hops)
    report("done", 1.0)
    return ModuleScores(nodes, rankings, run.model.importance_table(), reliability)


#: How many architectures' worth of evidence a build's (position, op) module needs before its own mean cell
#: score says more than its position's mean (core/building/modules.py shrinks by n / (n + k)).
PRIOR_ARCHITECTURES = 3.0

#: The ordering rule in one line, as the page and the CLI state it.
ORDER_RULE = ("estimated mean target over the whole space: the predictor's mean over the space's architectures "
              "holding the module, corrected by the table's mean residual shrunk by n / (n + k) for a module in n "
              "of the table's architectures")

#: A hop's ranking is reliable when its held-out norm Spearman and its members' top-10 agreement both reach this.
RELIABLE = 0.5

#: The size of the top list whose agreement across members is reported.
TOP = 10


def rank_modules(nodes: pd.DataFrame, descriptions: dict[str, str], targets: Sequence[float] | None,
                 member_scores: np.ndarray | None, estimate: SpaceEstimate) -> pd.DataFrame:
    """Aggregate node scores by (hop, signature) into ranking tables, ordered per hop by ``rank_score``.

    ``member_scores`` [K, rows of ``nodes``]: each member's own standardised score of each row;
    ``estimate``: the modules' whole-space estimates (:mod:`core.scoring.space_estimate`), indexed by
    (hop, signature). Columns: ``mean_score`` (AutoBuild's score, averaged over the module's occurrences),
    ``std_score`` (its spread over occurrences), ``count``, ``architectures``, ``mean_target`` (the mean
    target of the table's architectures holding the module; NaN without targets), ``member_low`` /
    ``member_high`` (the lowest and highest of the members' own mean scores), ``members`` (K, less any member
    whose predictions are left out),
    ``members_top10`` (in how many members' own top 10 of the hop the module is, by the ordering rule),
    ``estimate`` / ``estimate_low`` / ``estimate_high`` / ``estimate_se`` (the estimated whole-space mean
    target, the members' lowest and highest, its standard error), ``model_mean``, ``pool_architectures``,
    ``rank_score`` and ``rank`` (1 = first within its hop).

    The order (:data:`ORDER_RULE`): ``rank_score = estimate``, the posterior mean of the module's
    whole-space mean target, which orders modules best on average. The table's evidence is shrunk by count
    in it, so a single lucky architecture moves its module by ``1 / (1 + k)`` of its luck and cannot lift it
    over one seen fifty times; ``estimate_se`` says how far each place can be trusted. (Ordering by the
    lower bound ``estimate - estimate_se`` instead, the risk-averse choice, agreed less with the truth on
    the benchmark tables: docs/decisions.md.)
    """
    grouped = nodes.groupby(["hop", "signature"], sort=False)
    key = grouped.ngroup().to_numpy()
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
    if member_scores is None:
        member_scores = nodes["score"].to_numpy()[None]
    counts = table["count"].to_numpy()
    member_means = np.stack([np.bincount(key, weights=m, minlength=len(table)) for m in member_scores]) / counts
    table["member_low"] = member_means.min(0)
    table["member_high"] = member_means.max(0)
    index = pd.MultiIndex.from_frame(table[["hop", "signature"]])
    place = estimate.frame.index.get_indexer(index)
    if (place < 0).any():
        raise ValueError("the estimate lacks modules of the ranking")
    estimated = estimate.frame.iloc[place].reset_index(drop=True)
    # Each member's own ranking by the same rule: how often a module makes the top 10 says how stable the
    # shown order is under another start of the predictor.
    table["members"] = len(estimate.members)  # those whose predictions count (a collapsed head's do not)
    table["members_top10"] = _top_counts(estimate.members[:, place], table["hop"].to_numpy())
    for column in ("estimate", "estimate_low", "estimate_high", "estimate_se", "model_mean", "pool_architectures"):
        table[column] = estimated[column].to_numpy()
    table["rank_score"] = table["estimate"].to_numpy()
    table.insert(2, "description", table["signature"].map(descriptions))
    table = table.sort_values(["hop", "rank_score"], ascending=[True, False], kind="stable")
    table["rank"] = table.groupby("hop").cumcount() + 1
    return table.reset_index(drop=True)


def _top_counts(member_means: np.ndarray, hop: np.ndarray) -> np.ndarray:
    """For every module, in how many members' own top :data:`TOP` of its hop it is."""
    counts = np.zeros(member_means.shape[1], dtype=np.int64)
    for h in np.unique(hop):
        rows = np.flatnonzero(hop == h)
        for means in member_means:
            top = rows[np.argsort(-means[rows], kind="stable")[:TOP]]
            counts[top] += 1
    return counts


def hop_reliability(run: Run, rankings: pd.DataFrame | None, hops: int) -> pd.DataFrame:
    """How far to trust each hop's ranking: one row per hop with ``heldout_norm_spearman`` (the run's
    held-out Spearman of the hop's graph-embedding norm with the target; NaN when the run has none),
    ``member_agreement`` (the members' mean pairwise top-10 overlap, 0..1; NaN for one predictor),
    ``collapsed`` (no member's hop ranked its training targets: every member's Spearman below the hop's
    floor, :func:`core.predictor.collapse.collapse_floor`), ``reliable`` (not collapsed, and both figures
    at least :data:`RELIABLE` where they exist) and ``badge``. Without ``rankings`` (a build, which scores
    no modules) the agreement is NaN and the other two decide."""
    held = run.metrics.get("heldout") if isinstance(run.metrics.get("heldout"), dict) else {}
    spearman = held.get("hop_norm_spearman") if isinstance(held.get("hop_norm_spearman"), list) else []
    members = run.metrics.get("members") if isinstance(run.metrics.get("members"), dict) else {}
    collapsed = members.get("collapsed_hops") if isinstance(members.get("collapsed_hops"), list) else []
    rows = []
    for h in range(hops + 1):
        value = spearman[h] if h < len(spearman) else None
        rho = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
        part = rankings[rankings["hop"] == h] if rankings is not None else pd.DataFrame()
        k = int(part["members"].iloc[0]) if len(part) else 1
        agreement = _agreement(part["members_top10"].to_numpy(), k, min(TOP, len(part))) if k > 1 else np.nan
        is_collapsed = h in collapsed
        weak = [figure for figure in (rho, agreement) if np.isfinite(figure) and figure < RELIABLE]
        reliable = not is_collapsed and not weak
        badge = "collapsed" if is_collapsed else "reliable" if reliable else "weak"
        rows.append({"hop": h, "heldout_norm_spearman": rho, "member_agreement": agreement,
                     "collapsed": is_collapsed, "reliable": reliable, "badge": badge})
    return pd.DataFrame(rows)


def _agreement(top_counts: np.ndarray, members: int, size: int) -> float:
    """Mean pairwise overlap of K members' top-``size`` sets from how many members hold each module:
    the pairs sharing a module number c (c - 1) / 2, over K (K - 1) / 2 pairs of ``size`` places."""
    if size == 0:
        return np.nan
    c = top_counts.astype(np.float64)
    return float((c * (c - 1) / 2).sum() / (members * (members - 1) / 2 * size))


def trusted_hops(run: Run) -> np.ndarray:
    """[L+1] the hop whose scores stand in for each hop when building: itself when it is reliable
    (:func:`hop_reliability` from the run's own figures), else the nearest reliable hop below it (deeper
    modules contain shallower ones), else above it; every hop itself when none is reliable."""
    reliable = hop_reliability(run, None, run.hops)["reliable"].to_numpy()
    hops = np.arange(run.hops + 1)
    if not reliable.any():
        return hops
    good = hops[reliable]
    return np.array([good[good <= h].max() if (good <= h).any() else good.min() for h in hops])


def trusted_node_scores(run: Run, store: EncodedGraphs, batch_size: int = 4096) -> np.ndarray:
    """:func:`node_scores` with every untrusted hop's column replaced by its stand-in's (:func:`trusted_hops`)."""
    return trusted_scores_from_norms(run, member_norms(run.model, store, batch_size))


def trusted_scores_from_norms(run: Run, norms: np.ndarray) -> np.ndarray:
    """:func:`trusted_node_scores` from member norms [K, N, L+1] already computed (a pass that also predicted,
    :func:`core.predictor.member_outputs.member_outputs`): [N, L+1]."""
    return _standardised(run, norms)[0][:, trusted_hops(run)]


def trust_note(run: Run) -> str:
    """What a build says about the hops it did not trust (empty when it trusted all)."""
    stand_in = trusted_hops(run)
    moved = [(h, int(s)) for h, s in enumerate(stand_in) if s != h]
    if not moved:
        return ""
    return ("ignored weak or collapsed hop(s) " + ", ".join(f"{h} (read at hop {s})" for h, s in moved))
