import numpy as np
import pytest

from core.errors import InputError
from core.search.baselines import (
    BudgetExhausted,
    LookupOracle,
    predictor_guided,
    random_search,
    regularized_evolution,
)
from core.spaces import get_space


@pytest.fixture(scope="module")
def nb201():
    space = get_space("nasbench201")
    return space, space.metrics_table().set_index("arch")


def evaluator(table, budget):
    return LookupOracle(table, "baseline_accuracy", "baseline_accuracy", budget)


def test_evaluator_enforces_budget_and_counts_distinct(nb201):
    space, table = nb201
    ev = evaluator(table, 2)
    a, b, c = table.index[:3]
    ev(a), ev(a), ev(b)
    assert ev.used == 2 and ev.remaining == 0
    with pytest.raises(BudgetExhausted):
        ev(c)
    with pytest.raises(InputError):
        LookupOracle(table, "top1", "baseline_accuracy", 3)


def test_regularized_evolution_is_reproducible_and_within_budget(nb201):
    space, table = nb201
    runs = []
    for _ in range(2):
        ev = evaluator(table, 60)
        calls = []
        regularized_evolution(space, ev, seed=3, population=10, sample_size=3,
                              progress=lambda used, budget, best: calls.append(used))
        runs.append([h[0] for h in ev.history])
        assert ev.used == 60 and max(calls) <= 60
    assert runs[0] == runs[1]
    ev = evaluator(table, 60)
    regularized_evolution(space, ev, seed=4, population=10, sample_size=3)
    assert [h[0] for h in ev.history] != runs[0]


@pytest.mark.slow
def test_evolution_beats_random_on_average(nb201):
    # Not a benchmark, a sanity check that selection pressure works: 5 seeds, budget 150.
    space, table = nb201
    evo, rand = [], []
    for seed in range(5):
        ev = evaluator(table, 150)
        regularized_evolution(space, ev, seed=seed, population=20, sample_size=5)
        evo.append(np.mean(sorted(h[1] for h in ev.history)[-20:]))
        ev = evaluator(table, 150)
        random_search(space, ev, seed=seed)
        rand.append(np.mean(sorted(h[1] for h in ev.history)[-20:]))
    assert np.mean(evo) > np.mean(rand)


def test_evolution_stays_in_pool(nb201):
    space, table = nb201
    pool = list(table.index[table.baseline_accuracy > 92])
    ev = evaluator(table, 40)
    regularized_evolution(space, ev, seed=0, population=10, sample_size=3, pool=pool)
    assert set(h[0] for h in ev.history) <= set(pool)


def test_predictor_guided_takes_the_best_predicted(nb201):
    space, table = nb201
    ev = evaluator(table, 3)
    specs = list(table.index[:10])
    predictor_guided(ev, specs, predicted=np.arange(10.0))
    assert [h[0] for h in ev.history] == specs[::-1][:3]


def test_evolution_evaluates_the_chosen_of_distinct_unevaluated_mutations(nb201):
    space, table = nb201
    offered = []

    def best_by_lookup(children):  # an oracle stands in for a predictor
        return max(children, key=lambda spec: table.at[spec, "baseline_accuracy"])

    def choose(children):
        offered.append(children)
        return best_by_lookup(children)

    guided, plain = evaluator(table, 80), evaluator(table, 80)
    regularized_evolution(space, guided, seed=0, population=10, sample_size=3, choose=choose, candidates=6)
    regularized_evolution(space, plain, seed=0, population=10, sample_size=3)
    assert guided.used == 80 and len(offered) == 70
    evaluated_before = set()
    for step, children in enumerate(offered):
        assert 1 <= len(children) <= 6 and len(set(children)) == len(children)
        before = {spec for spec, _, _ in guided.history[:10 + step]}
        assert not set(children) & before
        assert guided.history[10 + step][0] == best_by_lookup(children)
    assert np.mean([h[1] for h in guided.history[10:]]) > np.mean([h[1] for h in plain.history[10:]])
    with pytest.raises(ValueError, match="candidates"):
        regularized_evolution(space, evaluator(table, 5), seed=0, choose=best_by_lookup, candidates=0)
