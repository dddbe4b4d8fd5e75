"""The pick rules (core/search/pick.py): the best measured value, or measured values shrunk toward a
predictor that never saw the candidates' own measurements."""
import numpy as np
import pytest

from core.search.pick import pick
from core.spaces import get_space
from tests.planted import planted_target, small_trainer


@pytest.mark.slow
def test_observed_takes_the_best_measured_and_shrunk_discounts_a_lucky_measurement(tmp_path):
    space = get_space("test-planted")
    specs = space.sample_distinct(60, np.random.default_rng(0))
    values = [planted_target(s) for s in specs]
    # A bad architecture whose single measurement was very lucky: the best measured value by far.
    lucky = int(np.argmin(values))
    values[lucky] = max(values) + 0.5
    trained_on = []
    observed = pick(space, specs, values, "observed")
    shrunk = pick(space, specs, values, "shrunk", small_trainer(tmp_path, trained_on))
    assert observed.index == lucky
    assert trained_on == [50]  # one predictor, without the 10 candidates
    assert shrunk.index != lucky and shrunk.index in shrunk.candidates and len(shrunk.candidates) == 10
    assert planted_target(specs[shrunk.index]) > planted_target(specs[lucky]) + 2


def test_pick_rules_are_looked_up_and_small_sets_fall_back_to_observed():
    space = get_space("test-planted")
    specs = space.sample_distinct(12, np.random.default_rng(1))
    values = [planted_target(s) for s in specs]
    assert pick(space, specs, values, "shrunk", train=lambda *a: pytest.fail("no training")).index == \
        int(np.argmax(values))
    with pytest.raises(ValueError, match="rule"):
        pick(space, specs, values, "median")
