"""Evaluators and executors: look-up and measured rows, one-line errors per architecture, and the same
rows whether evaluations run in this process, a process pool or Ray tasks."""
import time

import numpy as np
import pytest

from core.errors import InputError
from core.evaluators import (
    EVALUATORS,
    LookupEvaluator,
    MeasureEvaluator,
    evaluator_from_dict,
)
from core.evaluators.executors import (
    LocalExecutor,
    RayExecutor,
    evaluate_batch,
    make_executor,
)
from core.spaces import get_space

pytestmark = pytest.mark.slow  # the whole module: a local Ray instance


def some_specs(space: str, n: int, seed: int = 0) -> list[str]:
    return get_space(space).sample_distinct(n, np.random.default_rng(seed))


def test_lookup_rows_are_the_benchmark_values_in_the_given_order():
    evaluator = LookupEvaluator("nasbench-graph", "cora", ["valid_perf", "perf"])
    specs = some_specs("nasbench-graph", 5)
    batch = evaluate_batch(evaluator, specs + ["not json"])
    table = get_space("nasbench-graph").metrics_table("cora").set_index("arch")
    assert list(batch.rows["arch"]) == specs
    assert np.allclose(batch.rows["valid_perf"], table.loc[specs, "valid_perf"])
    assert list(batch.errors) == ["not json"] and "\n" not in batch.errors["not json"]
    assert evaluator.can_evaluate(specs[0]) and not evaluator.can_evaluate("x")


def test_evaluators_round_trip_through_their_description_and_refuse_bad_ones():
    evaluator = LookupEvaluator("nasbench201", None, ["baseline_accuracy"])
    again = evaluator_from_dict(evaluator.to_dict())
    assert isinstance(again, LookupEvaluator) and again.to_dict() == evaluator.to_dict()
    with pytest.raises(InputError, match="unknown evaluator"):
        evaluator_from_dict({"name": "__import__('os')"})
    with pytest.raises(InputError, match="bad options"):
        evaluator_from_dict({"name": "lookup", "space": "nasbench201", "colour": "red"})
    with pytest.raises(InputError, match="can measure"):
        MeasureEvaluator("nasbench201")
    assert set(EVALUATORS) >= {"lookup", "measure", "external", "fid"}


def test_measured_flops_and_params_do_not_depend_on_the_executor():
    evaluator = MeasureEvaluator("ofa-mbv3", warmup=0, repeats=1)
    specs = some_specs("ofa-mbv3", 2)
    here = evaluate_batch(evaluator, specs)
    pooled = evaluate_batch(evaluator, specs, LocalExecutor(workers=2))
    assert not here.errors and not pooled.errors
    assert here.rows[["arch", "params_m", "flops_m"]].equals(pooled.rows[["arch", "params_m", "flops_m"]])
    assert (here.rows["latency_ms"] > 0).all()
    assert evaluator.exclusive and evaluator.task_resources() == {"num_cpus": 1}


def test_executor_names_are_looked_up():
    assert isinstance(make_executor("local", workers=2), LocalExecutor)
    with pytest.raises(InputError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(InputError, match="--address is for the ray executor"):
        make_executor("local", address="auto")


def test_a_ray_address_that_refuses_is_one_line_at_once_not_a_hang():
    pytest.importorskip("ray")
    started = time.perf_counter()
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        with pytest.raises(InputError, match=f"could not reach a Ray cluster at '{address}': Connection refused"):
            make_executor("ray", address)
    assert time.perf_counter() - started < 10  # Ray itself would retry this address forever


def test_loop_run_with_a_refusing_ray_address_exits_2_naming_it(tmp_path):
    pytest.importorskip("ray")
    from core.campaign.campaign import Campaign
    from core.tables.validated import validate_table
    from tests.test_cli import assert_one_line_error, cli_in_process

    space = get_space("nasbench201")
    frame = space.metrics_table().set_index("arch").loc[some_specs("nasbench201", 12), ["baseline_accuracy"]]
    table = validate_table(frame.reset_index(), space, source="init.csv")
    campaign = Campaign.create(tmp_path / "c", table, "baseline_accuracy", dataset="cifar10",
                               evaluator=LookupEvaluator("nasbench201", "cifar10", ["baseline_accuracy"]), epochs=5)
    started = time.perf_counter()
    result = cli_in_process("loop", "run", "--campaign", campaign.path, "--rounds", 1, "--n", 2,
                            "--executor", "ray", "--address", "127.0.0.1:1")
    assert time.perf_counter() - started < 20
    assert_one_line_error(result, "could not reach a Ray cluster at '127.0.0.1:1'")
    assert campaign.rounds_started() == []  # refused before the round was proposed


def test_a_ray_cluster_that_never_answers_is_given_up_after_the_timeout():
    from core.evaluators.executors import _init_within

    class Stuck:
        """ray.init against a cluster that accepts the connection and never answers."""

        def init(self, **options):
            time.sleep(30)

    started = time.perf_counter()
    with pytest.raises(InputError, match=r"could not reach a Ray cluster at 'head:6379' within 0\.5 s"):
        _init_within(Stuck(), {"address": "head:6379"}, "head:6379", 0.5)
    assert time.perf_counter() - started < 5


@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    executor = RayExecutor(num_cpus=2)
    yield executor
    ray.shutdown()


def test_ray_tasks_give_the_local_rows(ray_executor):
    evaluator = LookupEvaluator("nasbench201", None, ["baseline_accuracy", "analog_accuracy"])
    specs = some_specs("nasbench201", 12, seed=4) + ["|bad|"]
    local = evaluate_batch(evaluator, specs)
    remote = evaluate_batch(evaluator, specs, ray_executor)
    assert remote.rows.equals(local.rows)
    assert set(remote.errors) == {"|bad|"} and remote.errors == local.errors


def test_a_campaign_through_ray_has_the_local_history(ray_executor, tmp_path):
    from core.campaign.campaign import Campaign
    from core.tables.validated import validate_table

    space = get_space("nasbench201")
    specs = some_specs("nasbench201", 16, seed=2)
    frame = space.metrics_table().set_index("arch").loc[specs, ["baseline_accuracy"]].reset_index()
    table = validate_table(frame, space, source="init.csv")
    evaluator = LookupEvaluator("nasbench201", "cifar10", ["baseline_accuracy"])
    histories = []
    for name, executor in (("local", LocalExecutor()), ("ray", ray_executor)):
        campaign = Campaign.create(tmp_path / name, table, "baseline_accuracy", dataset="cifar10",
                                   evaluator=evaluator, epochs=10, members=1)
        assert campaign.run(2, 3, executor) == 2
        histories.append(campaign.table())
    assert len(histories[0]) == 22 and histories[0].equals(histories[1])
