"""The regression head's top N (core.building.head_top): one baseline for every space, streamed or pooled alike."""
import numpy as np
import pytest

from core.building.head_top import head_order, head_top, top_by_prediction
from core.building.pool import pool_for
from core.errors import InputError
from core.search.history import History
from core.search.searchers.predictor import PredictorSearcher

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@pytest.fixture(scope="module")
def run(nb201_run):
    return nb201_run.run


@pytest.mark.slow
def test_pooled_top_equals_the_streamed_top_over_the_whole_space(run):
    pooled = head_top(run, 6)
    evaluated = set(run.table()["arch"])
    space = run.space
    streamed = top_by_prediction(lambda specs: run.predict([space.to_graph(s) for s in specs]).values, 6,
                                 space.enumerate(), exclude=evaluated, batch_size=5000)
    assert pooled["arch"].tolist() == streamed["arch"].tolist()
    assert np.allclose(pooled["predicted"], streamed["predicted"], rtol=1e-6)
    assert pooled.attrs["scored"] == streamed.attrs["scored"] == 15_625 - len(evaluated)
    assert pooled.attrs["excluded"] == len(evaluated) and not set(pooled["arch"]) & evaluated
    assert pooled["predicted"].is_monotonic_decreasing and pooled["rank"].tolist() == list(range(1, 7))
    with_evaluated = head_top(run, 3, include_evaluated=True)
    assert with_evaluated.attrs["scored"] == 15_625


def test_predictor_searcher_proposes_the_heads_order(run):
    pool = pool_for(run)
    order = head_order(run, pool)
    assert np.all(np.diff(run.predict(pool.store).values[order]) <= 0)
    proposed = PredictorSearcher().propose(run.space, History([], []), 5, seed=0, run=run)
    assert proposed == [pool.specs[i] for i in order[:5]]


def test_bad_sizes_are_refused(run):
    with pytest.raises(InputError, match="n >= 1"):
        head_top(run, 0)
    with pytest.raises(InputError, match="n >= 1"):
        top_by_prediction(lambda specs: np.zeros(len(specs)), 2, ["a"], batch_size=0)
