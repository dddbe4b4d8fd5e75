"""Each module's mean target over the whole space, estimated with the predictor's help (docs/design.md 2.7).

What a module ranking promises is an order of the modules by how good the architectures holding them are:
for module ``m`` at hop ``h``, the mean target of every architecture of the space that holds it,

    mu_m = mean_{a in space, m in a} y_a.

A table of a few hundred architectures holds most hop-1+ modules only a few times, so its own mean target
``ybar_m`` (unbiased, variance sigma^2 / n_m) is noisy. The predictor ``f`` sees every architecture, so its
mean over a large pool ``P`` (the whole space, or a seeded sample of it, plus the table) is precise but
carries the model's bias. The model-assisted (difference) estimator of survey sampling (Sarndal, Swensson and
Wretman, *Model Assisted Survey Sampling*, 1992) keeps the model's precision and corrects its bias with the
table's residuals ``r_a = y_a - f(a)``; the correction of a rare module is itself noisy, so it is shrunk by
its evidence (James-Stein, as for the table mean):

    mu_hat_m = mean_{a in P, m in a} f(a)  +  n_m / (n_m + k_h) * mean_{a in T, m in a} r_a

with ``n_m`` the module's architectures in the table ``T`` and ``k_h = sigma_r^2 / tau_h^2`` the ratio of
the residuals' variance to the variance of the modules' true mean residuals at hop ``h`` (method of
moments). The same ``k_h`` serves every member, so the ensemble's estimate (the members' estimates
weighted as their predictions are) lies within the members' range. Without targets the correction is 0
and the estimate is the model's alone. Shapes: predictions [K, G] (K members, G architectures); estimates
[K, M] over the M (hop, signature) rows of a ranking.

The posterior standard error of ``mu_hat_m`` under the normal model is
``sqrt(sigma_r^2 / (n_m + k_h) + s_m^2 / K)`` with ``s_m`` the members' spread: the first term shrinks
with the table's evidence, so a module seen once carries a wide interval even where the model is sure.

When the pool and the table together are every architecture the mean is over (a census: the whole
NAS-Bench-Graph or NAS-Bench-201 space, or all a look-up dataset evaluates), the table's targets are not a
sample but known terms of ``mu_m``. Only the module's ``N_m - n_m`` other holders are estimated (the
prediction estimator of finite-population sampling, Royall 1970):

    mu_hat_m = ( sum_{a in T, m in a} y_a + sum_{a not in T, m in a} (f(a) + c_m) ) / N_m

with ``c_m`` the shrunk correction above and ``N_m`` the module's holders; in its standard error the table's
term is scaled by ``(N_m - n_m) / N_m`` (the members' spread is already of the estimated part alone). A
module held by few architectures of the whole space, all in the table, is then its holders' mean target
exactly, not a prediction shrunk towards it (at hops 2-4 of NAS-Bench-Graph many modules are held by one or
two architectures).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import InputError
from core.graph import ArchGraph
from core.predictor.batching import EncodedGraphs
from core.predictor.ensemble import EnsemblePredictor
from core.predictor.member_outputs import MemberOutputs, member_outputs
from core.runs.run import Run
from core.spaces.lookup_dataset import evaluated_architectures

#: A space of at most this many architectures that can list them is pooled whole: the model's part is then
#: the model's exact mean over the space (NAS-Bench-Graph's 26,206 score in a few seconds on a CPU).
WHOLE_SPACE = 50_000

#: Architectures drawn (seeded) from a larger space. The model's part averages the pool's holders, so the
#: pool's size matters: on NAS-Bench-Graph tables the hop-1 agreement with the truth grew with it (about
#: 0.79 / 0.83 / 0.84 at 1,024 / 4,096 / the whole space, cora and pubmed; docs/decisions.md).
SAMPLED_POOL = 8192

#: The largest pool a caller may ask for (a million would take minutes and gain nothing).
MAX_POOL_SIZE = 100_000


def default_pool_size(space, dataset_specs: Sequence[str] | None = None) -> int:
    """The whole space (``dataset_specs`` when given: :func:`dataset_architectures`) when it lists at most
    :data:`WHOLE_SPACE` architectures, else :data:`SAMPLED_POOL`."""
    if dataset_specs is not None:
        return len(dataset_specs) if len(dataset_specs) <= WHOLE_SPACE else SAMPLED_POOL
    if space.enumerable and (space.size() or 0) <= WHOLE_SPACE:
        return int(space.size())
    return SAMPLED_POOL


def dataset_architectures(run: Run) -> list[str] | None:
    """:func:`core.spaces.lookup_dataset.evaluated_architectures` of the run's space and look-up dataset."""
    return evaluated_architectures(run.space, run.dataset)


def draw_pool(run: Run, exclude: Sequence[str] = (), size: int | None = None, seed: int = 0) -> list[ArchGraph]:
    """Up to ``size`` (default :func:`default_pool_size`) distinct architectures drawn uniformly from the
    run's space, or from its look-up dataset's part of it (:func:`dataset_architectures`), seeded, none of
    ``exclude`` (canonical specs: the scored table's); all the others when the space has no more; empty
    when the space cannot sample (an uploaded graph table: the table is then the whole pool)."""
    space = run.space
    within = dataset_architectures(run)
    size = default_pool_size(space, within) if size is None else size
    if size > MAX_POOL_SIZE:
        raise InputError(f"a pool of {size} architectures is over the limit of {MAX_POOL_SIZE}")
    if not space.can_sample or size <= 0:
        return []
    known = {str(s) for s in exclude}
    rng = np.random.default_rng(seed)
    total = len(within) if within is not None else space.size() if space.enumerable else None
    if total is not None and (within is not None or total <= 4 * (size + len(known))):
        # A small space, or a dataset's part of one: choose among the others directly (sampling the space
        # would keep drawing the excluded ones, or ones the dataset lacks).
        others = [s for s in (within if within is not None else space.enumerate()) if s not in known]
        drawn = [others[i] for i in np.sort(rng.choice(len(others), min(size, len(others)), replace=False))]
    else:
        chosen: dict[str, None] = {}
        for _ in range(100 * size + 1000):
            if len(chosen) == size:
                break
            spec = space.sample(rng)
            if spec not in known:
                chosen.setdefault(spec, None)
        drawn = list(chosen)
    return [space.to_graph(s) for s in drawn]


def member_predictions(run: Run, store: EncodedGraphs, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(weights [K], predictions [K, G] in the target's units) of every member of the run's predictor
    (K = 1 for a single one); the run's own prediction is ``weights @ predictions``."""
    return in_target_units(run, member_outputs(run.model, store, batch_size, norms=False))


def in_target_units(run: Run, outputs: MemberOutputs) -> tuple[np.ndarray, np.ndarray]:
    """(weights [K], predictions [K, G] in the target's units) from one pass's standardised predictions; a
    member whose head the ensemble left out weighs 0."""
    model = run.model
    if isinstance(model, EnsemblePredictor):
        used = model.head_used.cpu().double().numpy()
        weights = used / max(used.sum(), 1.0)
    else:
        weights = np.ones(1)
    return weights, outputs.predictions * run.target_std + run.target_mean


@dataclass
class SpaceEstimate:
    """Per ranking row (index: hop, signature): ``estimate`` (mu_hat, the run's), ``estimate_low`` /
    ``estimate_high`` (the lowest and highest member's), ``estimate_se`` (posterior standard error),
    ``model_mean`` (the run's mean prediction over the pool's holders), ``pool_architectures`` (holders in
    the pool, table included); ``members`` [K', M] the estimate of each member whose prediction is used
    (K' <= K), rows in ``frame``'s order."""

    frame: pd.DataFrame
    members: np.ndarray


def holders(graphs: Sequence[ArchGraph], hops: int, offset: int = 0) -> pd.DataFrame:
    """One row per (hop, signature, architecture) with the module in it: columns hop, signature, arch."""
    hop, signature, arch = [], [], []
    for i, graph in enumerate(graphs):
        for h, level in enumerate(graph.signatures(hops)):
            for s in dict.fromkeys(level):
                hop.append(h)
                signature.append(s)
                arch.append(offset + i)
    return pd.DataFrame({"hop": hop, "signature": signature, "arch": np.asarray(arch, dtype=np.int64)})


@dataclass(frozen=True)
class EncodedPool:
    """A pool (:func:`draw_pool`) encoded once, for several estimates over it (refits of one table,
    :mod:`core.scoring.resample_stability`): ``store`` its encoded graphs (None when empty), ``holders`` its
    :func:`holders` with architectures numbered 0..P-1."""

    store: EncodedGraphs | None
    holders: pd.DataFrame

    @classmethod
    def of(cls, pool: Sequence[ArchGraph], run: Run) -> EncodedPool:
        return cls(EncodedGraphs(list(pool), run.schema) if len(pool) else None, holders(pool, run.hops))

    def __len__(self) -> int:
        return 0 if self.store is None else len(self.store)


def estimate_modules(run: Run, table_holders: pd.DataFrame, table_store: EncodedGraphs,
                     targets: Sequence[float] | None, pool: Sequence[ArchGraph] | EncodedPool, rows: pd.MultiIndex,
                     batch_size: int = 4096, census: bool = False) -> SpaceEstimate:
    """mu_hat of every (hop, signature) in ``rows`` (see the module docstring).

    ``table_holders``: :func:`holders` of the scored table (architectures 0..T-1, encoded in
    ``table_store``); ``targets`` [T] their targets (NaN rows add no residual; None: no correction);
    ``pool``: further architectures for the model's part (:func:`draw_pool`), or the same already encoded;
    ``census``: the table and the pool are every architecture the mean is over (:func:`covers_space`).
    """
    encoded = pool if isinstance(pool, EncodedPool) else EncodedPool.of(pool, run)
    weights, table_pred = member_predictions(run, table_store, batch_size)
    t = table_pred.shape[1]
    pool_holders = encoded.holders.assign(arch=encoded.holders["arch"].to_numpy() + t)
    pool_pred = member_predictions(run, encoded.store, batch_size)[1] if len(encoded) \
        else np.zeros((len(weights), 0))
    every = pd.concat([table_holders[["hop", "signature", "arch"]], pool_holders], ignore_index=True)
    row = rows.get_indexer(pd.MultiIndex.from_frame(every[["hop", "signature"]]))
    keep = row >= 0
    return model_assisted(weights, np.concatenate([table_pred, pool_pred], axis=1), row[keep],
                          every["arch"].to_numpy()[keep], t, targets, rows, census)


def covers_space(run: Run, table_specs: Sequence[str], pool_size: int) -> bool:
    """True when the table's architectures, each once, and a pool of ``pool_size`` drawn without them
    (:func:`draw_pool`) are together every architecture the estimate's mean is over: all that the run's
    look-up dataset evaluates, else the whole space when it can be listed. A table listing an architecture
    twice, or one outside that set, is not a census."""
    specs = [str(s) for s in table_specs]
    if len(set(specs)) != len(specs):
        return False
    within = dataset_architectures(run)
    if within is not None:
        return len(specs) + pool_size == len(within) and set(specs) <= set(within)
    space = run.space
    return bool(space.enumerable) and len(specs) + pool_size == (space.size() or -1)


def model_assisted(weights: np.ndarray, predictions: np.ndarray, row: np.ndarray, arch: np.ndarray,
                   table_size: int, targets: Sequence[float] | None, rows: pd.MultiIndex,
                   census: bool = False) -> SpaceEstimate:
    """The estimator itself, from predictions.

    ``weights`` [K] and ``predictions`` [K, A] of every member for A architectures, the first
    ``table_size`` of them the table's (with ``targets``); ``row``, ``arch`` [H]: each (module, holder)
    pair as the module's position in ``rows`` (hop first) and the architecture's index. ``census``: the A
    architectures are every one the mean is over, each once (:func:`covers_space`), so the table's targets
    are known terms of it (see the module docstring).
    """
    m = len(rows)
    count = np.bincount(row, minlength=m).astype(np.float64)
    model_mean = np.stack([np.bincount(row, weights=p[arch], minlength=m) for p in predictions]) \
        / np.maximum(count, 1)
    correction = np.zeros_like(model_mean)
    se_table = np.zeros(m)
    if targets is not None:
        y = np.asarray(targets, dtype=np.float64)
        residuals = y[None, :] - predictions[:, :table_size]  # [K, T]
        finite = np.isfinite(y)
        with_y = arch < table_size
        with_y[with_y] = finite[arch[with_y]]
        r_row, r_arch = row[with_y], arch[with_y]
        n = np.bincount(r_row, minlength=m).astype(np.float64)
        mean_residual = np.stack([np.bincount(r_row, weights=r[r_arch], minlength=m) for r in residuals]) \
            / np.maximum(n, 1)
        sigma2 = float(np.var((weights @ residuals)[finite])) if finite.any() else 0.0
        hops = rows.get_level_values(0).to_numpy()
        k = np.zeros(m)
        for h in np.unique(hops):
            seen = (hops == h) & (n > 0)
            k[hops == h] = _residual_shrinkage((weights @ mean_residual)[seen], n[seen], sigma2)
        correction = n / (n + k) * mean_residual
        se_table = np.sqrt(sigma2 / (n + k))
    per_member = model_mean + correction  # [K, M]
    unknown_share = np.ones(m)
    if census and targets is not None:
        # Finite population: the table's n holders are known terms of the mean; only the other count - n are
        # estimated, each by its prediction plus the module's correction.
        y_sum = np.bincount(r_row, weights=y[r_arch], minlength=m)
        f_sum = np.stack([np.bincount(r_row, weights=p[r_arch], minlength=m) for p in predictions])
        unknown = np.maximum(count - n, 0.0)
        per_member = (y_sum + model_mean * count - f_sum + unknown * correction) / np.maximum(count, 1)
        unknown_share = unknown / np.maximum(count, 1)
    estimate = weights @ per_member
    # A member whose head was left out (weight 0) says nothing about the interval either.
    members = per_member[weights > 0]
    k_members = len(members)
    spread = members.std(0, ddof=1) if k_members > 1 else np.zeros(m)
    frame = pd.DataFrame({
        "estimate": estimate,
        "estimate_low": members.min(0),
        "estimate_high": members.max(0),
        # The members' spread is already over the estimated share alone (the known terms are the same in all).
        "estimate_se": np.sqrt((unknown_share * se_table) ** 2 + spread ** 2 / k_members),
        "model_mean": weights @ model_mean,
        "pool_architectures": count.astype(np.int64),
    }, index=rows)
    return SpaceEstimate(frame, members)


def _residual_shrinkage(mean_residual: np.ndarray, n: np.ndarray, sigma2: float) -> float:
    """k = sigma_r^2 / tau^2 for one hop: tau^2, the variance of the modules' true mean residuals, is the
    observed variance of their mean residuals less its expected sampling part (method of moments); clipped to
    [0.5, 1000] architectures (a hop whose residuals do not differ beyond noise keeps the model's estimate)."""
    if not sigma2 > 0 or len(mean_residual) < 2:
        return 1000.0
    tau2 = float(np.var(mean_residual) - np.mean(sigma2 / n))
    return float(np.clip(sigma2 / tau2, 0.5, 1000.0)) if tau2 > 0 else 1000.0
