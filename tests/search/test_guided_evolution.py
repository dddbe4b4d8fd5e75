import numpy as np
import pytest

from core.search.baselines import LookupOracle, regularized_evolution
from core.search.guided_evolution import GuidedEvolutionConfig, guided_evolution
from core.spaces import get_space
from tests.planted import planted_lookup, planted_target, small_trainer


@pytest.mark.slow
def test_guided_evolution_chooses_better_children_than_plain_evolution(tmp_path):
    space = get_space("test-planted")
    rng = np.random.default_rng(0)
    initial = list(dict.fromkeys(space.sample(rng) for _ in range(30)))[:10]
    trained_on = []
    config = GuidedEvolutionConfig(population=10, sample_size=3, candidates=8, retrains=2, seed=1)
    lookup = planted_lookup()
    guided = LookupOracle(lookup, "y", "y", budget=40)
    runs = guided_evolution(space, guided, small_trainer(tmp_path, trained_on), config, initial=initial)
    assert len(runs) == 2 and guided.used == 40
    assert [spec for spec, _, _ in guided.history[:10]] == initial
    assert trained_on == [10, 25]  # after the population, then halfway through the 30 children
    plain = LookupOracle(lookup, "y", "y", budget=40)
    regularized_evolution(space, plain, seed=1, population=10, sample_size=3, initial=initial)
    # The module score of each child's cell picks far better children than one random mutation.
    children = [planted_target(spec) for spec, _, _ in guided.history[10:]]
    random_children = [planted_target(spec) for spec, _, _ in plain.history[10:]]
    assert np.mean(children) > np.mean(random_children) + 1


def test_guided_evolution_config_is_validated():
    for bad in ({"candidates": 0}, {"retrains": 0}, {"cell_score": "head"}, {"population": 1},
                {"sample_size": 30}):
        with pytest.raises(ValueError):
            GuidedEvolutionConfig(**bad)
