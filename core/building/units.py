"""Building from units: the paper's builder, for spaces that declare units (e.g. MobileNet stages).

Every candidate configuration of a unit is scored as an isolated subgraph: the standardised L1 norm of
its last node's embedding, ``s = (||h_root^h||_1 - mu_h) / sigma_h``. By default (``unit_hop="unit"``)
every candidate of a unit is read at the unit's deepest hop, ``h = max depth - 1``, so a shorter
candidate's missing layers contribute nothing and candidates of different depths are compared on one
hop; the paper's ``h = depth - 1`` (``unit_hop="depth"``) suits GATv2, whose self-loops keep a lone
node's norm high (docs/design.md 2.8 has the measurements). The top ``k`` per unit are kept; their
Cartesian product is the reduced search space (size ``prod_u k_u``); its members are ranked by the sum
of their unit scores and the top ``N`` are assembled. Whole-architecture choices outside every unit
(OFA's input resolution) multiply the reduced space: the kept candidates are re-scored under each
setting and the setting is chosen with them by the summed score.
"""
from __future__ import annotations

import heapq
import itertools
import math
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from core.building.config import BuildConfig, BuildResult
from core.building.limits import constraint_check
from core.predictor.batching import EncodedGraphs
from core.runs.run import Run
from core.scoring.modules import trusted_node_scores
from core.spaces.base import SearchSpace, UnitCandidate

Progress = Callable[[str, float], None]


def root_scores(run: Run, candidates: Sequence[UnitCandidate], batch_size: int = BuildConfig.candidate_chunk
                ) -> np.ndarray:
    """Standardised norm of each candidate's root at every hop 0..L [C, L+1]."""
    scores = np.empty((len(candidates), run.hops + 1))
    for start in range(0, len(candidates), batch_size):
        chunk = candidates[start:start + batch_size]
        store = EncodedGraphs([c.graph for c in chunk], run.schema)
        per_node = trusted_node_scores(run, store)  # [nodes, L+1]
        roots = store.node_ptr[:-1].numpy() + np.array([c.root for c in chunk])
        scores[start:start + len(chunk)] = per_node[roots]
    return scores


def build_from_units(run: Run, space: SearchSpace, config: BuildConfig, report: Progress) -> BuildResult:
    """Keep the ``config.k`` best candidates per unit and assemble the best-scoring combinations."""
    kept: list[list[tuple[float, UnitCandidate]]] = []
    hops: list[int | None] = []
    rows = []
    deepest = 0
    names = space.units()
    for u, unit in enumerate(names):
        report(f"scoring unit {unit}", 0.9 * u / len(names))
        best, unit_deepest, hop = best_candidates(run, space.unit_candidates(unit), config.k, config.unit_hop,
                                                  config.candidate_chunk)
        deepest = max(deepest, unit_deepest)
        kept.append(best)
        hops.append(hop)
        rows += [(unit, r + 1, cand.label, score) for r, (score, cand) in enumerate(best)]
    settings = _global_settings(space)
    size = math.prod(len(k) for k in kept) * len(settings)
    ranked = []
    # With constraints, many of the best combinations may fail them: rank more before filtering.
    depth = config.ranked
    for setting, kept_here in zip(settings, _rescore(run, space, kept, hops, settings)):
        ranked += [(total, combo, setting) for total, combo in _top_sums(kept_here, depth)]
    ranked.sort(key=lambda item: -item[0])  # stable: ties keep the order of the settings
    fits, how = constraint_check(run, config.constraints, config.latency_warmup, config.latency_repeats)
    built_rows, seen = [], set()
    for total, combo, setting in ranked:
        spec = space.assemble({**{c.unit: c.choice for c in combo}, **setting})
        if spec in seen:
            continue
        seen.add(spec)
        if config.constraints and len(seen) % 10 == 0:
            report(f"checking limits: {len(seen)} checked, {len(built_rows)} fit", 0.92)
        if fits(spec):
            built_rows.append((spec, total))
        if len(built_rows) == config.top:
            break
    built = pd.DataFrame(built_rows, columns=["arch", "score"])
    read_at = ("each candidate read at hop = its depth - 1" if config.unit_hop == "depth"
               else "every candidate read at its unit's deepest hop")
    notes = f"top {config.k} of each of {len(names)} units ({read_at}); ranked by summed unit score"
    if len(settings) > 1:
        notes += f", over {len(settings)} settings of {', '.join(space.global_choices())}"
    if config.constraints:
        notes += (f"; subject to {', '.join(map(str, config.constraints))} ({how}): the built are the best "
                  f"{len(built_rows)} of the {len(seen)} best-ranked architectures checked")
    if deepest > run.hops:
        notes += (f"; the deepest candidates need hop {deepest} but the run has {run.hops} layers, so they "
                  f"were scored at hop {run.hops} (train with --layers {deepest} to cover whole units)")
    return BuildResult(built, pd.DataFrame(rows, columns=["unit", "rank", "label", "score"]), size, "units",
                       notes=notes)


def best_candidates(run: Run, candidates: Iterable[UnitCandidate], k: int, unit_hop: str = "unit",
                    chunk: int = BuildConfig.candidate_chunk) -> tuple[list[tuple[float, UnitCandidate]], int, int | None]:
    """The ``k`` best-scoring candidates, best first, the largest hop any candidate asked for, and
    the hop every candidate was read at (``None`` when each was read at its own depth).

    ``candidates`` are streamed in chunks (a merged ProxylessNAS unit has 66,339: only one chunk of
    graphs is held at a time). With ``unit_hop="unit"`` the hop is the unit's deepest, which is only
    known at the end, so the top ``k`` is kept for every hop and the right one returned. Ties keep
    the enumeration order.
    """
    best: dict[int | None, list[tuple[float, int, UnitCandidate]]] = {}
    deepest = 0
    candidates = iter(candidates)  # a list would restart at every islice
    for start in itertools.count(0, chunk):
        batch = list(itertools.islice(candidates, chunk))
        if not batch:
            break
        deepest = max(deepest, max(c.hops for c in batch))
        roots = root_scores(run, batch)  # [C, L+1]
        if unit_hop == "depth":
            columns = {None: roots[np.arange(len(batch)), [min(c.hops, run.hops) for c in batch]]}
        else:
            columns = dict(enumerate(roots.T))
        for hop, scores in columns.items():
            top = np.argsort(-scores, kind="stable")[:k]
            merged = best.get(hop, []) + [(float(scores[i]), start + int(i), batch[i]) for i in top]
            best[hop] = sorted(merged, key=lambda item: (-item[0], item[1]))[:k]
    hop = None if unit_hop == "depth" else min(deepest, run.hops)
    return [(score, cand) for score, _, cand in best.get(hop, [])], deepest, hop


def _global_settings(space: SearchSpace) -> list[dict]:
    """Every combination of the space's whole-architecture choices ([{}] when it has none)."""
    choices = space.global_choices()
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def _rescore(run: Run, space: SearchSpace, kept: list[list[tuple[float, UnitCandidate]]],
             hops: list[int | None], settings: list[dict]) -> list[list[list[tuple[float, UnitCandidate]]]]:
    """The kept candidates of every unit re-scored under each global setting, best first per unit.

    Candidates are chosen at the space's default setting (enumerating every unit once per setting
    would multiply the work); a whole-architecture choice such as OFA's resolution is a node feature
    of every candidate, so it changes their scores and is chosen here by the summed unit score.
    Each unit's candidates are read at the hop they were chosen at (``hops``; None: their depth).
    """
    if settings == [{}]:
        return [kept]
    variants = [space.unit_candidate(c.unit, c.choice, **setting)
                for setting in settings for unit in kept for _, c in unit]
    columns = [min(c.hops, run.hops) if hop is None else hop
               for _ in settings for unit, hop in zip(kept, hops) for _, c in unit]
    scores = root_scores(run, variants)[np.arange(len(variants)), columns]
    scored = iter(zip(scores.tolist(), variants))
    return [[sorted((next(scored) for _ in unit), key=lambda pair: -pair[0]) for unit in kept]
            for _ in settings]


def _top_sums(kept: list[list[tuple[float, UnitCandidate]]], n: int):
    """The ``n`` best combinations (one candidate per unit) by summed score, best first.

    Each list is sorted best first, so a best-first search over index vectors yields the combinations
    in order without enumerating the (possibly huge) product.
    """
    start = (0,) * len(kept)
    heap = [(-sum(k[0][0] for k in kept), start)]
    seen = {start}
    while heap and n > 0:
        neg, idx = heapq.heappop(heap)
        yield -neg, [kept[u][i][1] for u, i in enumerate(idx)]
        n -= 1
        for u in range(len(kept)):
            if idx[u] + 1 < len(kept[u]):
                nxt = idx[:u] + (idx[u] + 1,) + idx[u + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    total = -neg - kept[u][idx[u]][0] + kept[u][idx[u] + 1][0]
                    heapq.heappush(heap, (-total, nxt))
