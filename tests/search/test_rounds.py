import numpy as np
import pytest

from core.search.baselines import LookupOracle
from core.search.rounds import RoundsConfig, autobuild_rounds
from core.spaces import get_space
from tests.planted import planted_lookup, planted_target, small_trainer


@pytest.mark.slow
def test_rounds_spend_the_budget_on_built_architectures(tmp_path):
    space = get_space("test-planted")
    rng = np.random.default_rng(0)
    initial = list(dict.fromkeys(space.sample(rng) for _ in range(40)))[:30]
    trained_on = []
    trainer = small_trainer(tmp_path, trained_on)
    evaluate = LookupOracle(planted_lookup(), "y", "y", budget=42)
    runs = autobuild_rounds(evaluate, initial, trainer, RoundsConfig(rounds=3))
    assert len(runs) == 3 and evaluate.used == 42
    assert [spec for spec, _, _ in evaluate.history[:30]] == initial
    # Every round retrains on everything evaluated so far and adds an equal share (12 left / 3 rounds).
    assert trained_on == [30, 34, 38]
    built = [spec for spec, _, _ in evaluate.history[30:]]
    assert len(set(built)) == 12 and not set(built) & set(initial)
    # Chosen by module scores, the built ones are far better than the random initial ones.
    assert np.mean([planted_target(s) for s in built]) > np.mean([planted_target(s) for s in initial]) + 1


def test_rounds_config_is_validated():
    with pytest.raises(ValueError, match="rounds"):
        RoundsConfig(rounds=0)


@pytest.mark.slow
def test_local_acquisition_ranks_neighbours_of_the_best_first():
    from core.search.history import History
    from core.search.rounds import near_the_best

    space = get_space("nasbench201")
    table = space.metrics_table().set_index("arch")
    evaluate = LookupOracle(table, "baseline_accuracy", "baseline_accuracy", budget=100)
    rng = np.random.default_rng(0)
    for spec in space.sample_distinct(30, rng):
        evaluate(spec)
    parents = [s for s, _, _ in sorted(evaluate.history, key=lambda row: -row[1])[:3]]
    ranked = [s for s in table.index[:3000] if not evaluate.evaluated(s)]  # any order stands in for a ranking

    def one_edge_from_a_parent(spec):
        ops = space.parse(spec)
        return any(sum(a != b for a, b in zip(ops, space.parse(p))) == 1 for p in parents)

    picked = near_the_best(space, History.of(evaluate), ranked, 40, rng, parents=3, mutations=500)
    near = [s for s in ranked if one_edge_from_a_parent(s)]
    assert near, "the first 3,000 cells hold neighbours of the parents"
    assert picked[:len(near)] == near  # every neighbour, in ranking order, before anything else
    assert len(picked) == max(40, len(near)) and len(set(picked)) == len(picked)
    with pytest.raises(ValueError, match="acquire"):
        RoundsConfig(acquire="nearest")
