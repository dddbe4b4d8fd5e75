import math

import numpy as np
import pandas as pd
import pytest

from core.building.builder import build_architectures
from core.building.config import BuildConfig
from core.building.constraints import parse_constraints
from core.building.modules import module_estimates
from core.building.pool import cell_readout, pool_for
from core.errors import InputError
from core.predictor.member_outputs import MemberOutputs, member_outputs
from core.predictor.config import PredictorConfig, TrainConfig
from core.spaces import get_space
from core.tables.validated import validate_table
from core.workflow import train_from_table
from tests.planted import planted_target

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    space = get_space("test-planted")
    rng = np.random.default_rng(1)
    specs = [space.sample(rng) for _ in range(200)]
    specs = list(dict.fromkeys(specs))
    frame = pd.DataFrame({"arch": specs, "y": [planted_target(s, rng) for s in specs]})
    out = tmp_path_factory.mktemp("runs") / "planted"
    # One member here and in nb_graph_run: builds from an ensemble's scores are tests/scoring/test_modules.py's
    # (and the README walkthrough's) to check.
    return train_from_table(validate_table(frame, space, source="planted"), "y", out,
                            model_config=PredictorConfig(width=16, layers=2, members=1),
                            train_config=TrainConfig(epochs=60, batch_size=32, val_fraction=0.0, seed=0)).run


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.slow
def test_unit_build_reduced_space_is_the_product_of_k(planted_run, k):
    result = build_architectures(planted_run, BuildConfig(top=3, k=k))
    assert result.method == "units"
    assert result.reduced_space_size == k ** 2  # 2 units, k kept each
    assert len(result.units) == 2 * k and set(result.units.unit) == {"stage1", "stage2"}


def test_unit_build_picks_good_modules(planted_run):
    result = build_architectures(planted_run, BuildConfig(top=3, k=3))
    space = get_space("test-planted")
    assert len(result.built) == 3 and result.built.arch.is_unique
    assert all(space.canonical(a) == a for a in result.built.arch)
    assert result.built.score.is_monotonic_decreasing
    # Best possible is 4 good layers (target 4); a build from the best modules gets close.
    assert planted_target(result.built.arch[0]) >= 3
    assert "predicted" in result.built.columns


@pytest.fixture(scope="module")
def nb_graph_run(tmp_path_factory):
    from core.tables.validated import load_table
    from tests.conftest import SAMPLE

    table = load_table(SAMPLE / "nasbench-graph_cs_300.csv", "nasbench-graph")
    out = tmp_path_factory.mktemp("runs") / "cs"
    return train_from_table(table, "valid_perf", out, dataset="cs",
                            model_config=PredictorConfig(width=16, layers=3, members=1),
                            train_config=TrainConfig(epochs=30, seed=0)).run


@pytest.mark.parametrize("readout, order", [("sink", "estimate"), ("graph", "estimate"), ("sink", "score")])
@pytest.mark.slow
def test_module_build_on_nasbench_graph_is_valid_and_in_the_benchmark(nb_graph_run, readout, order):
    result = build_architectures(nb_graph_run, BuildConfig(top=5, k=2, cell_score=readout, module_order=order))
    assert f"({readout} readout)" in result.notes
    assert ("estimated mean target" in result.notes) == (order == "estimate")
    if order == "estimate":  # each position's kept ops, best estimate first
        for _, kept in result.units.groupby("unit", sort=False):
            assert list(kept["rank"]) == [1, 2] and kept["estimate"].is_monotonic_decreasing
    assert result.method == "modules"
    built = result.built
    assert len(built) == 5 and built.arch.is_unique
    space = get_space("nasbench-graph")
    table = space.metrics_table("cs").set_index("arch")
    assert all(a in table.index for a in built.arch)  # every built architecture is in the benchmark
    assert built[["true_valid_perf", "true_perf", "percentile"]].notna().all().all()
    # Reduced space: every member uses only kept (position, op) modules, and it is far smaller.
    kept = set(zip(result.units.unit, result.units.label))
    assert result.reduced_space_size == len(result.reduced_specs) < space.size()
    for spec in result.reduced_specs[:200]:
        g = space.to_graph(spec)
        for node in g.nodes[1:-1]:
            assert (f"depth={node['depth']}", node["op"]) in kept
    assert math.isclose(built.score.iloc[0], built.score.max())


def _pool_modules(run):
    """(pool, holders: position, op, arch of every pooled node, modules: each (position, op) once)."""
    pool = pool_for(run)
    holders = pd.DataFrame({"position": [k[0] for k in pool.node_keys], "op": [k[1] for k in pool.node_keys],
                            "arch": pool.node_arch}).drop_duplicates()
    modules = holders[["position", "op"]].drop_duplicates().reset_index(drop=True)
    return pool, holders, modules


def test_module_estimates_are_the_predictors_mean_corrected_by_the_table(nb_graph_run, monkeypatch):
    pool, holders, modules = _pool_modules(nb_graph_run)
    predicted = nb_graph_run.predict(pool.store).values
    direct = holders.assign(p=predicted[holders["arch"].to_numpy()]).groupby(["position", "op"], sort=False)["p"].mean()

    def no_table():
        raise InputError("no table")

    monkeypatch.setattr(nb_graph_run, "table", no_table)
    alone = module_estimates(nb_graph_run, pool, holders, modules)
    assert np.allclose(alone, direct.to_numpy(), atol=1e-9)  # nothing to correct with: the model's mean
    # A table whose targets sit delta above the predictions exactly where one module is held (the most held
    # of those not in every architecture): it rises by a share of delta (its correction is shrunk by its
    # count), and more than any other op of its position (they share its shrinkage, fewer hold it).
    rng = np.random.default_rng(0)
    rows = rng.choice(len(pool), 300, replace=False)
    count = holders.groupby(["position", "op"], sort=False).size().to_numpy()
    chosen = int(np.argmax(np.where(count < len(pool), count, 0)))
    position, op = modules.iloc[chosen]
    holding = set(holders.loc[(holders["position"] == position) & (holders["op"] == op), "arch"])
    delta = 0.05
    y = predicted[rows] + delta * np.array([r in holding for r in rows])
    frame = pd.DataFrame({"arch": [pool.specs[r] for r in rows], nb_graph_run.target: y})
    monkeypatch.setattr(nb_graph_run, "table", lambda: frame)
    rise = module_estimates(nb_graph_run, pool, holders, modules) - alone
    same_position = (modules["position"] == position).to_numpy()
    assert 0 < rise[chosen] <= delta + 1e-9 and rise[chosen] == rise[same_position].max()
    assert same_position.sum() > 1


def test_one_pass_over_the_pool_scores_cells_and_estimates_ops_as_two_would(nb_graph_run, monkeypatch):
    pool, holders, modules = _pool_modules(nb_graph_run)
    outputs = member_outputs(nb_graph_run.model, pool.store)
    assert np.allclose(pool.cell_scores(nb_graph_run, "sink", outputs.norms), pool.cell_scores(nb_graph_run, "sink"))
    assert np.allclose(module_estimates(nb_graph_run, pool, holders, modules, outputs),
                       module_estimates(nb_graph_run, pool, holders, modules))
    # A build that needs neither (graph readout, norm order) runs no such pass.
    import core.building.modules as cell_build

    passes = []
    monkeypatch.setattr(cell_build, "member_outputs", lambda *a, **k: passes.append(k) or member_outputs(*a, **k))
    build_architectures(nb_graph_run, BuildConfig(top=2, cell_score="graph", module_order="score"))
    assert passes == []
    build_architectures(nb_graph_run, BuildConfig(top=2))
    assert passes == [{"norms": True, "predictions": True}]
    # And they are read, not recomputed: other outputs give other scores.
    other = MemberOutputs(outputs.norms * 2, outputs.predictions + 1)
    assert not np.allclose(pool.cell_scores(nb_graph_run, "sink", other.norms), pool.cell_scores(nb_graph_run, "sink"))
    assert not np.allclose(module_estimates(nb_graph_run, pool, holders, modules, other),
                           module_estimates(nb_graph_run, pool, holders, modules))


def test_constraints_filter_the_ranking_by_look_up_metrics(nb_graph_run):
    free = build_architectures(nb_graph_run, BuildConfig(top=5, k=2))
    table = get_space("nasbench-graph").metrics_table("cs").set_index("arch")
    # Limits that about half the reduced space meets: its median latency and 75th percentile of size.
    latency, para = (float(f"{table.loc[free.reduced_specs, c].quantile(q):.4g}") for c, q in
                     (("latency", 0.5), ("para", 0.75)))
    limits = parse_constraints(f"latency <= {latency}, para < {para}")
    bound = build_architectures(nb_graph_run, BuildConfig(top=5, k=2, constraints=limits))
    fits = [s for s in free.reduced_specs if table.at[s, "latency"] <= latency and table.at[s, "para"] < para]
    assert 5 <= len(fits) < len(free.reduced_specs)
    # The same ranking, with the architectures that break a limit left out.
    assert bound.reduced_specs == fits and list(bound.built.arch) == fits[:5]
    assert (bound.built.true_latency <= latency).all() and (bound.built.true_para < para).all()
    assert bound.reduced_space_size == free.reduced_space_size
    assert f"{len(fits):,} of its {free.reduced_space_size:,} members satisfy it" in bound.notes


def test_constraints_need_a_look_up_table_and_a_known_column(planted_run, nb_graph_run):
    with pytest.raises(InputError, match="ships none"):
        build_architectures(planted_run, BuildConfig(constraints=parse_constraints("y <= 1")))
    with pytest.raises(InputError, match="'speed' is not in the nasbench-graph/cs look-up table"):
        build_architectures(nb_graph_run, BuildConfig(constraints=parse_constraints("speed <= 1")))


def test_cell_readout_covers_the_cell():
    g = get_space("nasbench201").to_graph("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                          "nor_conv_3x3~1|skip_connect~2|")
    sinks, depth = cell_readout(g)
    assert sinks == [7] and depth == 4  # input -> 1-2 -> 2-3 -> 3-4 -> output


@pytest.mark.parametrize("kwargs", [{"top": 0}, {"k": 0}, {"top": 1.5}, {"cell_score": "mean"}, {"unit_hop": "max"},
                                    {"module_order": "median"}])
def test_build_config_validated(kwargs):
    with pytest.raises(ValueError):
        BuildConfig(**kwargs)


@pytest.fixture(scope="module")
def ofa_latency_run(tmp_path_factory):
    from tests.conftest import SAMPLE

    frame = pd.read_csv(SAMPLE / "ofa_mbv3_latency_cpu.csv").head(120)
    table = validate_table(frame, get_space("ofa-mbv3"), source="ofa_mbv3_latency_cpu.csv")
    out = tmp_path_factory.mktemp("runs") / "ofa"
    return train_from_table(table, "-latency_ms", out, model_config=PredictorConfig(width=8, layers=2),
                            train_config=TrainConfig(epochs=3, min_steps=0, seed=0)).run


@pytest.mark.slow
def test_unit_build_chooses_the_resolution_with_the_units(ofa_latency_run):
    from core.spaces.ofa_spec import SAMPLE_RESOLUTIONS

    space = get_space("ofa-mbv3")
    result = build_architectures(ofa_latency_run, BuildConfig(top=4, k=2))
    # 2 candidates kept in each of 5 stages, under each of the 9 sampled resolutions.
    assert result.reduced_space_size == 2 ** 5 * len(SAMPLE_RESOLUTIONS)
    assert "settings of r" in result.notes
    # 4-layer stages are scored at hop 3; this 2-layer run can only reach hop 2, and says so.
    assert "need hop 3 but the run has 2 layers" in result.notes
    assert len(result.built) == 4 and result.built.arch.is_unique and result.built.score.is_monotonic_decreasing
    assert all(space.canonical(a) == a for a in result.built.arch)
    assert {space.parse(a).r for a in result.built.arch} <= set(SAMPLE_RESOLUTIONS)


@pytest.mark.slow
def test_unit_build_limits_are_measured_when_no_table_ships(ofa_latency_run):
    space = get_space("ofa-mbv3")
    free = build_architectures(ofa_latency_run, BuildConfig(top=4, k=2))
    flops = {a: space.measure(a, "latency", warmup=0, repeats=1)["flops_m"] for a in free.built.arch}
    limit = sorted(flops.values())[1]  # exactly 2 of the 4 best-ranked fit
    bound = build_architectures(ofa_latency_run, BuildConfig(top=2, k=2,
                                                             constraints=parse_constraints(f"flops_m <= {limit}")))
    assert list(bound.built.arch) == [a for a in free.built.arch if flops[a] <= limit]
    assert "subject to flops_m <= " in bound.notes and "(counted on this machine)" in bound.notes
    with pytest.raises(InputError, match="'gpu_hours' cannot be measured on space 'ofa-mbv3'"):
        build_architectures(ofa_latency_run, BuildConfig(top=2, constraints=parse_constraints("gpu_hours < 1")))


def test_one_unit_candidate_equals_the_enumerated_one():
    space = get_space("ofa-mbv3")
    for enumerated in list(space.unit_candidates("stage3", r=200))[::997]:
        single = space.unit_candidate("stage3", enumerated.choice, r=200)
        assert single.graph.nodes == enumerated.graph.nodes and single.graph.edges == enumerated.graph.edges
        assert single.graph.labels == enumerated.graph.labels
        assert (single.root, single.hops, single.label) == (enumerated.root, enumerated.hops, enumerated.label)


@pytest.mark.parametrize("unit_hop", ["unit", "depth"])
def test_streamed_unit_scoring_keeps_the_same_top_k_across_chunks(planted_run, unit_hop):
    from core.building.units import best_candidates as _best_candidates

    space = get_space("test-planted")
    for unit in space.units():
        whole, deepest, hop = _best_candidates(planted_run, space.unit_candidates(unit), k=4, unit_hop=unit_hop)
        chunked, chunked_deepest, chunked_hop = _best_candidates(planted_run, list(space.unit_candidates(unit)),
                                                                 k=4, unit_hop=unit_hop, chunk=5)
        assert [c.choice for _, c in chunked] == [c.choice for _, c in whole]
        assert [s for s, _ in chunked] == pytest.approx([s for s, _ in whole])
        assert deepest == chunked_deepest == 1  # 2-layer candidates are read at hop 1
        assert hop == chunked_hop == (1 if unit_hop == "unit" else None)


@pytest.mark.parametrize("unit_hop", ["unit", "depth"])
def test_unit_candidates_are_read_at_the_configured_hop(planted_run, unit_hop):
    from core.building.units import best_candidates as _best_candidates
    from core.building.units import root_scores as _root_scores

    space = get_space("test-planted")
    candidates = list(space.unit_candidates("stage1"))
    roots = _root_scores(planted_run, candidates)  # [C, L+1]
    assert roots.shape == (len(candidates), planted_run.hops + 1)
    hops = [1 if unit_hop == "unit" else c.hops for c in candidates]  # deepest candidate: 2 layers, hop 1
    expected = sorted(roots[np.arange(len(candidates)), hops], reverse=True)
    best, _, _ = _best_candidates(planted_run, candidates, k=len(candidates), unit_hop=unit_hop)
    assert [s for s, _ in best] == pytest.approx(expected)
    # Both readouts are offered by the build and named in its notes.
    result = build_architectures(planted_run, BuildConfig(top=2, k=2, unit_hop=unit_hop))
    assert ("unit's deepest hop" in result.notes) == (unit_hop == "unit")


def test_exhaustive_baseline_refuses_a_space_it_cannot_enumerate(ofa_latency_run):
    from core.building.head_top import head_top
    from core.errors import InputError

    with pytest.raises(InputError, match="cannot be enumerated"):
        head_top(ofa_latency_run, 4)
