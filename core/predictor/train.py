"""Training the AutoBuild predictor with the magnitude-ranked embedding loss.

The target is standardised on the training rows (an ensemble's: every row some member learns from, each
member holding out its own, :func:`member_folds`); graphs are encoded once (:mod:`batching`);
AdamW; everything seeded. After training the *hop moments* (mean and std of node-embedding L1 norms
per hop over the training nodes) are computed: they standardise module scores so that scores of
different hops are comparable (docs/design.md 2.7).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from core import metrics
from core.predictor.adamw import FusedAdamW
from core.predictor.batching import EncodedGraphs
from core.predictor.config import PredictorConfig, TrainConfig
from core.predictor.collapse import collapse_floor, collapsed, collapsed_hops, hop_spearman, tied_head
from core.predictor.ensemble import EnsemblePredictor
from core.predictor.members import MemberTraining
from core.predictor.model import AutoBuildPredictor


@dataclass
class EpochReport:
    """What the progress callback receives after every epoch."""

    epoch: int
    epochs: int
    loss: float
    mse: float
    rank: float
    val_spearman: float | None
    seconds: float
    #: Each member's own validation Spearman (None between validation passes, and for a single predictor).
    member_val_spearman: list[float] | None = None


@dataclass
class TrainResult:
    model: AutoBuildPredictor | EnsemblePredictor
    target_mean: float
    target_std: float
    hop_moments: list[tuple[float, float]]
    train_ids: np.ndarray
    val_ids: np.ndarray
    history: list[dict] = field(default_factory=list)
    #: The epoch whose weights ``model`` has: the best validation pass when ``restored_best``, else the last.
    best_epoch: int = 0
    seconds: float = 0.0
    #: True when the best validation epoch's weights were restored in place of the last epoch's.
    restored_best: bool = False
    #: The members' report (count, train-split hop-norm Spearman per member, hops and heads used,
    #: collapsed hops, best epochs, the rows each member held out): what metrics.json records under "members".
    members: dict = field(default_factory=dict)
    #: Out-of-fold (ids, standardised predictions, hop norms) of the held-out rows (:func:`heldout_predictions`);
    #: None without a validation split.
    heldout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one intra-op CPU thread, then restore torch's setting.

    Multithreaded CPU kernels split sums (matmuls, reductions, scatters) by thread count, so two
    thread counts round differently and, over thousands of steps, train different models.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but no GPU is available")
    return torch.device(name)


def _validation_size(n: int, val_fraction: float) -> int:
    """Rows a member holds out: ``val_fraction`` of ``n``, at least 2 on a table of 10 or more (a Spearman
    needs two)."""
    n_val = int(round(n * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and n_val < 2 and n >= 10:
        n_val = 2
    return n_val


def member_folds(n: int, val_fraction: float, seed: int, members: int) -> list[np.ndarray]:
    """The rows each of ``members`` members holds out (sorted ids of ``range(n)``): successive blocks of one
    seeded permutation, so members hold out different rows (disjoint while ``members * val_fraction <= 1``,
    wrapping round after); member 0 holds out the permutation's first rows, the split a single predictor
    has always had.

    A cross-validation committee (Krogh and Vedelsby, NIPS 1994): each member is still judged on rows it
    never saw, while the ensemble as a whole learns from every row (a shared split would keep the same
    tenth of a small table from all of them).
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = _validation_size(n, val_fraction)
    return [np.sort(order[(k * n_val + np.arange(n_val)) % n]) if n_val else np.zeros(0, dtype=np.int64)
            for k in range(members)]


def training_ids(n: int, folds: list[np.ndarray]) -> np.ndarray:
    """Rows at least one member trains on (every row not held out by all of them)."""
    held = np.zeros(n, dtype=np.int64)
    for fold in folds:
        held[fold] += 1
    return np.flatnonzero(held < len(folds))


@torch.no_grad()
def predict_encoded(model: AutoBuildPredictor | EnsemblePredictor, store: EncodedGraphs, ids: np.ndarray | None = None,
                    batch_size: int = 4096, device: torch.device | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Standardised predictions [G] and hop graph-embedding L1 norms [G, L+1] for graphs ``ids``.

    Runs on one CPU thread (:func:`one_thread`), so a prediction does not depend on torch's setting.
    """
    device = device or next(model.parameters()).device
    model.eval()
    ids_t = torch.arange(len(store)) if ids is None else torch.as_tensor(ids, dtype=torch.long)
    preds, norms = [], []
    for start in range(0, ids_t.numel(), batch_size):
        with one_thread():
            out = model(store.model_batch(ids_t[start:start + batch_size]).to(device))
        preds.append(out.prediction.cpu())
        norms.append(torch.stack([g.abs().sum(dim=1) for g in out.graph_embeddings], dim=1).cpu())
    if not preds:
        return np.zeros(0), np.zeros((0, model.hops + 1))
    return torch.cat(preds).numpy(), torch.cat(norms).numpy()


@torch.no_grad()
def compute_hop_moments(model: AutoBuildPredictor | EnsemblePredictor, store: EncodedGraphs, ids: np.ndarray,
                        batch_size: int = 4096) -> list[tuple[float, float]]:
    """Mean and std of node-embedding L1 norms per hop over all nodes of graphs ``ids``."""
    device = next(model.parameters()).device
    model.eval()
    ids_t = torch.as_tensor(ids, dtype=torch.long)
    sums = torch.zeros(model.hops + 1, dtype=torch.float64)
    sq = torch.zeros(model.hops + 1, dtype=torch.float64)
    count = 0
    for start in range(0, ids_t.numel(), batch_size):
        with one_thread():
            out = model(store.model_batch(ids_t[start:start + batch_size]).to(device))
        norms = torch.stack([x.abs().sum(dim=1) for x in out.node_embeddings], dim=1).double().cpu()
        sums += norms.sum(0)
        sq += (norms ** 2).sum(0)
        count += norms.shape[0]
    mean = sums / count
    std = (sq / count - mean ** 2).clamp_min(0).sqrt()
    return [(float(m), float(s) if s > 0 else 1.0) for m, s in zip(mean, std)]


def resolve_batch_size(requested: int, n_train: int) -> int:
    """The batch size used for ``n_train`` graphs: ``requested``, or the automatic choice for 0."""
    size = requested if requested > 0 else max(16, min(128, n_train // 8))
    return max(4, min(size, n_train))


def epochs_for(cfg: TrainConfig, n_train: int, batch_size: int) -> int:
    """``cfg.epochs``, raised until training takes at least ``cfg.min_steps`` optimiser steps."""
    steps_per_epoch = max(1, n_train // batch_size)  # the last short batch is mostly dropped
    return max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))


def train_predictor(store: EncodedGraphs, y: np.ndarray, model_config: PredictorConfig,
                    train_config: TrainConfig,
                    progress: Callable[[EpochReport], None] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    hop_ceiling: np.ndarray | None = None) -> TrainResult:
    """Train a predictor on encoded graphs ``store`` with raw targets ``y`` [G].

    ``hop_ceiling`` [L+1]: how well each hop's modules rank ``y`` by the table alone
    (:func:`core.predictor.collapse.hop_ceilings`); the collapse guard holds each hop's norm ranking to a
    share of it (none given: to the plain threshold).

    ``progress`` is called after every epoch; ``should_stop`` is polled between epochs (a UI's Stop
    button): training then ends early with the weights chosen as at a normal end (the best validation
    pass's under ``keep_best`` or ``patience``, else the last epoch's; see ``TrainResult.restored_best``).

    Training runs on one CPU thread whatever torch's setting (:func:`one_thread`), so a seed gives
    the same model on any machine setting; on graphs this small more threads do not pay.
    """
    with one_thread():
        return _train(store, y, model_config, train_config, progress, should_stop, hop_ceiling)


def _train(store: EncodedGraphs, y: np.ndarray, model_config: PredictorConfig, train_config: TrainConfig,
           progress: Callable[[EpochReport], None] | None,
           should_stop: Callable[[], bool] | None, hop_ceiling: np.ndarray | None = None) -> TrainResult:
    started = time.perf_counter()
    cfg = train_config
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(store),):
        raise ValueError(f"need one target per graph: {len(store)} graphs, {y.size} targets")
    folds = member_folds(len(store), cfg.val_fraction, cfg.seed, model_config.members)
    train_ids = training_ids(len(store), folds)
    member_train = [np.setdiff1d(train_ids, fold) for fold in folds]
    if min(ids.size for ids in member_train) < 4:
        raise ValueError(f"need at least 4 training architectures, got {min(ids.size for ids in member_train)}")
    val_ids = np.unique(np.concatenate(folds))
    # held[k, i]: member k holds row i out; it never learns from that row's target.
    held = torch.zeros(len(folds), len(store), dtype=torch.bool)
    for k, fold in enumerate(folds):
        held[k, torch.as_tensor(fold, dtype=torch.long)] = True
    mean = float(y[train_ids].mean())
    std = float(y[train_ids].std()) or 1.0
    y_std = torch.tensor((y - mean) / std, dtype=torch.float32)

    batch_size = resolve_batch_size(cfg.batch_size, train_ids.size)
    epochs = epochs_for(cfg, train_ids.size, batch_size)
    # Members start from successive draws of the seeded generator: member 0 is the single predictor a
    # one-member config trains, so members=1 reproduces every run made before ensembles.
    one = dataclasses.replace(model_config, members=1)
    members = [AutoBuildPredictor(store.schema, one).to(device) for _ in range(model_config.members)]
    training = MemberTraining(members)
    optimiser = FusedAdamW(training.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_t = torch.as_tensor(train_ids, dtype=torch.long)

    history: list[dict] = []
    best = [_BestEpoch() for _ in members]
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        optimiser.lr = cosine_lr(cfg.lr, epoch - 1, epochs)
        perm = train_t[torch.randperm(train_t.numel(), generator=generator)]
        totals = _train_epoch(training, store, perm, batch_size, y_std, held, device, optimiser, cfg)

        val_rho, member_rho = None, None
        last = epoch == epochs
        if val_ids.size >= 2 and (epoch % cfg.eval_every == 0 or last):
            training.sync()
            preds = [predict_encoded(member, store, fold)[0] for member, fold in zip(members, folds)]
            member_rho = [metrics.spearman(pred, y[fold]) for pred, fold in zip(preds, folds)]
            for member, rho, kept in zip(members, member_rho, best):
                kept.update(member, epoch, rho, cfg.eval_every)
            val_rho = metrics.spearman(_out_of_fold(folds, preds), y[val_ids])
        report = EpochReport(epoch, epochs, float(totals[0]), float(totals[1]), float(totals[2]),
                             val_rho, time.perf_counter() - epoch_start,
                             member_rho if len(members) > 1 else None)
        history.append(asdict(report))
        if progress is not None:
            progress(report)
        if cfg.patience is not None and min(kept.stale for kept in best) >= cfg.patience:
            break
        if should_stop is not None and should_stop():
            break
    training.sync()

    # With a validation split, end on each member's best validation epoch (always under early stopping,
    # whose last epochs are by definition no better); without one, keep the final weights. A member whose
    # validation Spearman was never defined (its held-out targets or predictions all tied) has no best
    # epoch and keeps its last weights too.
    keep_best = cfg.keep_best or cfg.patience is not None
    restored_each = [keep_best and kept.state is not None for kept in best]
    restored = restored_each[0]
    best_epochs = [kept.epoch if back else len(history) for kept, back in zip(best, restored_each)]
    for member, kept, back in zip(members, best, restored_each):
        if back:
            member.load_state_dict(kept.state)
        member.eval()
    model, report = _read_members(members, model_config, store, y, member_train, hop_ceiling)
    moments = compute_hop_moments(model, store, train_ids)
    report["best_epochs"] = best_epochs
    if len(members) > 1:
        report["heldout_rows"] = [fold.tolist() for fold in folds]
    heldout = heldout_predictions(members, store, folds) if val_ids.size else None
    return TrainResult(model, mean, std, moments, train_ids, val_ids, history, best_epochs[0],
                       time.perf_counter() - started, restored_best=restored, members=report, heldout=heldout)


def heldout_predictions(members: list[AutoBuildPredictor], store: EncodedGraphs, folds: list[np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids [V], standardised predictions [V], hop norms [V, L+1]) of every held-out row (sorted), each the
    mean over the members that held it out: out-of-fold figures. Several members' norms are put on one
    scale first, each member's standardised over the rows it scores (its scale and offset are its own, and
    a Spearman over one member's rows is unchanged by it); a single member's are its raw norms."""
    outputs = [predict_encoded(member, store, fold) for member, fold in zip(members, folds)]
    preds = [p for p, _ in outputs]
    norms = [(n - n.mean(0)) / np.where(n.std(0) > 0, n.std(0), 1.0) if len(members) > 1 else n
             for _, n in outputs]
    return np.unique(np.concatenate(folds)), _out_of_fold(folds, preds), _out_of_fold(folds, norms)


def _out_of_fold(folds: list[np.ndarray], values: list[np.ndarray]) -> np.ndarray:
    """Per row of the folds' union (sorted), the mean of the values [|fold_k|, ...] the folds give it."""
    ids = np.unique(np.concatenate(folds))
    total = np.zeros((len(ids),) + values[0].shape[1:])
    count = np.zeros(len(ids))
    for fold, value in zip(folds, values):
        rows = np.searchsorted(ids, fold)
        np.add.at(total, rows, value)
        np.add.at(count, rows, 1.0)
    return total / np.maximum(count, 1.0).reshape((-1,) + (1,) * (total.ndim - 1))


def _read_members(members: list[AutoBuildPredictor], config: PredictorConfig, store: EncodedGraphs,
                  y: np.ndarray, member_train: list[np.ndarray], hop_ceiling: np.ndarray | None = None
                  ) -> tuple[AutoBuildPredictor | EnsemblePredictor, dict]:
    """The trained predictor (the single member, or the ensemble of all) and the members' report: each
    member's hop-norm Spearman on its own training rows (``member_train[k]``), which hops and heads are
    used (:func:`core.predictor.collapse.collapsed_hops`), and the hops that collapsed, where every member is
    below the hop's floor (:func:`core.predictor.collapse.collapsed`, from ``hop_ceiling``)."""
    spearman, heads = [], []
    for member, train_ids in zip(members, member_train):
        pred, norms = predict_encoded(member, store, train_ids)
        spearman.append(hop_spearman(norms, y[train_ids]))
        heads.append(not tied_head(pred))
    used = collapsed_hops(np.array(spearman))
    head_used = np.array(heads, dtype=np.float64)
    if head_used.sum() == 0:
        head_used[:] = 1.0
    report = {
        "count": len(members),
        "train_hop_spearman": [[round(float(r), 4) for r in row] for row in spearman],
        "hop_used": used.astype(int).tolist(),
        "head_used": head_used.astype(int).tolist(),
        "collapsed_hops": collapsed(np.array(spearman), hop_ceiling),
        "collapse_floor": [round(float(f), 4) for f in collapse_floor(used.shape[1], hop_ceiling)],
    }
    if len(members) == 1:
        return members[0], report
    ensemble = EnsemblePredictor(store.schema, config).to(next(members[0].parameters()).device)
    for k, member in enumerate(members):
        ensemble.members[k].load_state_dict(member.state_dict())
    ensemble.hop_used.copy_(torch.as_tensor(used))
    ensemble.head_used.copy_(torch.as_tensor(head_used))
    moments = torch.tensor([compute_hop_moments(m, store, ids) for m, ids in zip(members, member_train)])  # [K, L+1, 2]
    ensemble.norm_mean.copy_(moments[..., 0])
    ensemble.norm_std.copy_(moments[..., 1])
    ensemble.eval()
    return ensemble, report


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Cosine annealing from ``lr`` to 0 over ``epochs``: the rate of 0-based ``epoch``."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def _train_epoch(training: MemberTraining, store: EncodedGraphs, perm: torch.Tensor, batch_size: int,
                 y_std: torch.Tensor, held: torch.Tensor, device: torch.device, optimiser: FusedAdamW,
                 cfg: TrainConfig) -> np.ndarray:
    """One pass over the shuffled training ids ``perm``; the mean (loss, mse, rank) over its batches
    (per member: the members' sum of losses divided by their count). ``held`` [K, G]: the rows each member
    holds out, left out of its loss."""
    training.train()
    totals = np.zeros(3)
    n_batches = 0
    k = len(training.members)
    # Drop a last batch smaller than 4: BatchNorm and ranks need several graphs.
    for start in range(0, perm.numel(), batch_size):
        ids = perm[start:start + batch_size]
        if ids.numel() < 4:
            continue
        learns = ~held[:, ids]
        loss, mse, rank = training.loss(store.model_batch(ids).to(device), y_std[ids].to(device), cfg.lam,
                                        cfg.temperature, None if bool(learns.all()) else learns.to(device))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        totals += (loss.item() / k, mse, rank)
        n_batches += 1
    return totals / max(n_batches, 1)


@dataclass
class _BestEpoch:
    """The best validation epoch so far (its weights and Spearman rho) and the epochs evaluated since."""

    state: dict | None = None
    score: float = -math.inf
    epoch: int = 0
    stale: int = 0

    def update(self, model: AutoBuildPredictor, epoch: int, val_rho: float, eval_every: int) -> None:
        score = -math.inf if math.isnan(val_rho) else val_rho
        if score > self.score:
            self.score, self.epoch, self.stale = score, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.stale += eval_every
