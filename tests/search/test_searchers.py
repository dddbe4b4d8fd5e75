"""The searcher registry and its two faces: propose (campaign rounds) and search (benchmarks)."""
import numpy as np
import pytest

from core.errors import InputError
from core.search.baselines import LookupOracle
from core.search.history import History
from core.search.searchers import (
    SEARCHERS,
    SearchSettings,
    campaign_methods,
    get_searcher,
)
from core.search.searchers.evolution import tournament_parents
from core.spaces import get_space
from tests.planted import planted_lookup, planted_target, small_trainer

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

SPACE = "test-planted"


def planted_history(n: int, seed: int = 0) -> History:
    space = get_space(SPACE)
    specs = space.sample_distinct(n, np.random.default_rng(seed))
    return History(specs, [planted_target(s) for s in specs])


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    history = planted_history(30)
    return small_trainer(tmp_path_factory.mktemp("searchers"), [])(history.specs, history.values, 0)


def test_registry_resolves_names_and_refuses_unknown_ones():
    assert set(campaign_methods()) <= set(SEARCHERS)
    assert "autobuild+evo" not in campaign_methods()  # benchmark-only: declared, not probed
    assert get_searcher("random").name == "random"
    with pytest.raises(InputError, match="unknown method 'nope'"):
        get_searcher("nope")
    with pytest.raises(InputError, match="cannot propose"):
        get_searcher("autobuild+evo").propose(get_space(SPACE), planted_history(5), 3, seed=0)


@pytest.mark.parametrize("method", campaign_methods())
@pytest.mark.slow
def test_every_campaign_method_proposes_new_distinct_valid_architectures(method, planted_run):
    space = get_space(SPACE)
    history = planted_history(30)
    searcher = get_searcher(method, SearchSettings(population=10, sample_size=3, candidates=4))
    run = planted_run if searcher.needs_run else None
    first = searcher.propose(space, history, 8, seed=5, run=run)
    assert 1 <= len(first) <= 8 and len(set(first)) == len(first)
    assert not any(history.evaluated(s) for s in first)
    assert all(space.canonical(s) == s for s in first)
    assert searcher.propose(space, history, 8, seed=5, run=run) == first  # stateless: same call, same answer
    if searcher.needs_run:
        with pytest.raises(InputError, match="needs a trained run"):
            searcher.propose(space, history, 8, seed=5, run=None)


def test_proposals_respect_what_the_evaluator_can_evaluate(planted_run):
    space = get_space(SPACE)
    allowed = set(list(space.enumerate())[::3])
    history = planted_history(20)
    history.allowed = allowed.__contains__
    for method in ("random", "evolution", "autobuild-guided"):
        searcher = get_searcher(method, SearchSettings(population=10, sample_size=3))
        proposed = searcher.propose(space, history, 10, seed=1, run=planted_run)
        assert proposed and set(proposed) <= allowed


def test_evolution_population_is_the_most_recent_evaluations():
    # Aging evolution keeps the last P evaluated: the tournament never sees older members.
    history = History([f"a{i}" for i in range(30)], [100.0 - i for i in range(30)])
    parents = tournament_parents(history, 50, population=10, sample_size=3, rng=np.random.default_rng(0))
    assert set(parents) <= {f"a{i}" for i in range(20, 30)}
    assert "a29" not in parents  # the worst of the population never wins a tournament of 3


def test_guided_proposals_beat_plain_evolution_on_the_planted_space(planted_run):
    space = get_space(SPACE)
    history = planted_history(30)
    settings = SearchSettings(population=30, sample_size=3, candidates=8)
    guided = get_searcher("autobuild-guided", settings).propose(space, history, 10, seed=2, run=planted_run)
    plain = get_searcher("evolution", settings).propose(space, history, 10, seed=2)
    assert np.mean([planted_target(s) for s in guided]) > np.mean([planted_target(s) for s in plain]) + 0.5


@pytest.mark.slow
def test_loop_search_labels_the_population_then_proposes_in_rounds(tmp_path):
    space = get_space(SPACE)
    labelled = space.sample_distinct(20, np.random.default_rng(3))
    trained_on = []
    oracle = LookupOracle(planted_lookup(), "y", "y", budget=30)
    settings = SearchSettings(population=10, sample_size=3, rounds=2)
    result = get_searcher("autobuild-loop", settings).search(space, oracle, 0, small_trainer(tmp_path, trained_on),
                                                              labelled)
    assert [s for s, _, _ in result.history[:10]] == labelled[:10]
    assert oracle.used == 30 and trained_on == [10, 20] and len(result.runs) == 2
    assert result.pick == oracle.best()


def test_random_proposals_do_not_redraw_a_table_sampled_with_the_same_seed():
    # `sample --seed 0` draws with default_rng(0); a campaign with seed 0 proposing from that very stream
    # would re-draw the table (OFA is too large to enumerate, so nothing else would be found).
    space = get_space("ofa-mbv3")
    table = space.sample_distinct(1000, np.random.default_rng(0))
    proposed = get_searcher("random").propose(space, History(table, [0.0] * len(table)), 8, seed=0)
    assert len(proposed) == 8 and not set(proposed) & set(table)
