"""The Loop page at a new campaign: the round-0 chart has whole-round axes, a real y range and its unit, and
the propose step's progress moves while the predictor trains (it stayed at 0 until the round was proposed)."""
from __future__ import annotations

import pytest

import numpy as np

from app.views.loop_data import best_so_far_chart
from core.campaign.campaign import Campaign
from core.spaces import get_space
from core.tables.validated import validate_table

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def new_campaign(path, epochs: int = 2) -> Campaign:
    space = get_space("nasbench201")
    frame = space.metrics_table().set_index("arch").loc[space.sample_distinct(16, np.random.default_rng(0)),
                                                          ["baseline_accuracy"]].reset_index()
    table = validate_table(frame, space, source="init", metric_columns=["baseline_accuracy"])
    return Campaign.create(path, table, "baseline_accuracy", dataset="cifar10", epochs=epochs, members=1)


def test_round_zero_chart_has_whole_rounds_a_real_y_range_and_the_unit(tmp_path):
    figure = best_so_far_chart(new_campaign(tmp_path / "c").status())
    layout = figure.layout
    assert tuple(layout.xaxis.range) == (-0.5, 1.5) and layout.xaxis.dtick == 1
    low, high = layout.yaxis.range
    best = figure.data[0].y[0]
    assert low < best < high and high - low > 1  # a lone point: ±5 % around it, not ± nothing
    assert layout.yaxis.title.text == "baseline_accuracy (%)" and layout.xaxis.title.text.startswith("round")


def test_propose_reports_training_epochs_as_they_go(tmp_path):
    campaign = new_campaign(tmp_path / "c", epochs=20)
    heard = []
    campaign.propose(3, progress=lambda message, done, total: heard.append((message, done, total)))
    training = [(done, total) for message, done, total in heard if "epoch" in message]
    (total,) = {total for _, total in training}  # at least the 20 asked (a small table trains more)
    done = [d for d, _ in training]
    assert total >= 20 and 10 <= len(done) <= 11 and done == sorted(done) and done[-1] == total
