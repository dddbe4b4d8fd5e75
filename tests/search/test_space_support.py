"""Searchers ask the space's declared capabilities (core.spaces.capabilities): a method that samples or
mutates architectures is refused with one line on a space that cannot (``graph``, ``onnx``), when a
campaign is created, before a round trains, and in every propose/search, never a NotImplementedError."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.campaign.campaign import Campaign
from core.errors import InputError
from core.search.baselines import LookupOracle
from core.search.history import History
from core.search.rounds import near_the_best
from core.search.searchers import (
    DEFAULT_METHOD,
    SEARCHERS,
    campaign_methods,
    get_searcher,
)
from core.search.searchers.random import random_proposals
from core.spaces import get_space
from core.tables.validated import validate_table
from tests.planted import planted_lookup

GRAPH = get_space("graph")
#: The campaign methods that draw or mutate architectures (evolution and its guided forms, random search).
SAMPLING = ["random", "evolution", "autobuild-local", "autobuild-guided"]


def graph_specs(n: int = 12) -> list[str]:
    """Small real DAGs of the graph space: stem -> conv (width varies) -> op -> head."""
    specs = []
    for i in range(n):
        nodes = [{"op": "input"}, {"op": "conv3x3", "channels": 16 * (1 + i % 4)},
                 {"op": ["relu", "gelu", "maxpool"][i % 3]}, {"op": "linear"}]
        specs.append(GRAPH.canonical(json.dumps({"nodes": nodes, "edges": [[0, 1], [1, 2], [2, 3]]})))
    return list(dict.fromkeys(specs))


def graph_table():
    specs = graph_specs()
    return validate_table(pd.DataFrame({"arch": specs, "acc": np.linspace(0.5, 0.9, len(specs))}), GRAPH,
                          source="graph.csv")


def test_the_sampling_methods_are_declared_and_only_the_others_are_offered_on_the_graph_space():
    declared = {name for name, cls in SEARCHERS.items() if cls.needs_sampling}
    assert declared == set(SAMPLING) | {"autobuild+evo", "autobuild-loop"}  # those two only search benchmarks
    offered = campaign_methods(GRAPH)
    assert offered and not set(offered) & set(SAMPLING) and "autobuild" in offered
    assert campaign_methods(get_space("onnx")) == offered
    assert campaign_methods(get_space("nasbench201")) == campaign_methods()  # a sampling space: every method


@pytest.mark.parametrize("method", SAMPLING)
def test_a_sampling_method_proposing_on_the_graph_space_is_one_line(method):
    history = History(graph_specs(), [0.0] * len(graph_specs()))
    with pytest.raises(InputError) as caught:
        get_searcher(method).propose(GRAPH, history, 2, seed=0)
    message = str(caught.value)
    assert message.startswith(f"space 'graph' cannot sample architectures; method {method!r} needs it; use one of")
    assert "'autobuild'" in message and "\n" not in message


@pytest.mark.parametrize("method", ["random", "evolution", "autobuild-loop"])
def test_a_sampling_method_searching_the_graph_space_is_refused_before_any_evaluation(method):
    oracle = LookupOracle(planted_lookup(), "y", "y", budget=10)
    with pytest.raises(InputError, match="cannot sample architectures"):
        get_searcher(method).search(GRAPH, oracle, 0, train=None, labelled=graph_specs())
    assert len(oracle.history) == 0


def test_the_sampling_helpers_refuse_the_graph_space():
    history = History(graph_specs(), [float(i) for i in range(len(graph_specs()))])
    with pytest.raises(InputError, match="'graph' cannot sample architectures; drawing random proposals needs it"):
        random_proposals(GRAPH, history, 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="'graph' cannot sample architectures; the local acquisition"):
        near_the_best(GRAPH, history, history.specs, 2, np.random.default_rng(0))


def test_a_graph_campaign_refuses_a_sampling_method_at_creation_and_before_a_round_trains(tmp_path):
    with pytest.raises(InputError, match=f"method '{DEFAULT_METHOD}' needs it; use one of"):
        Campaign.create(tmp_path / "c", graph_table(), "acc")  # the default method samples
    assert not (tmp_path / "c").exists()
    campaign = Campaign.create(tmp_path / "c", graph_table(), "acc", method="autobuild")
    for method in ("evolution", "random"):
        with pytest.raises(InputError, match=f"method {method!r} needs it"):
            campaign.propose(2, method)
    assert campaign.rounds_started() == [] and not any((tmp_path / "c" / "rounds").iterdir())  # nothing trained


def test_the_loop_page_offers_only_the_methods_the_table_space_supports():
    from app.views.loop_setup import method_options

    assert method_options("nasbench201")[:2] == [DEFAULT_METHOD, "autobuild"]
    graph = method_options("graph")
    assert graph[0] == "autobuild" and set(graph) == set(campaign_methods(GRAPH))
    assert set(method_options()) == set(campaign_methods())
