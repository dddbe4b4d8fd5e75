"""Campaigns (core/campaign/campaign.py): the loop on the planted space, ingesting the user's results, and
resuming after kill -9 without losing or repeating an evaluation."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.campaign.campaign import Campaign
from core.errors import InputError
from core.evaluators import EVALUATORS, ArchEvaluator
from core.runs.run import Run
from core.search.searchers import SearchSettings
from core.spaces import get_space
from core.tables.validated import validate_table
from tests.planted import planted_target

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = SearchSettings(population=10, sample_size=3, candidates=6)


class PlantedEvaluator(ArchEvaluator):
    """Evaluates the planted space's noise-free target (test only)."""

    name = "test-planted"

    @property
    def space_name(self):
        return "test-planted"

    def metrics(self):
        return ("y",)

    def evaluate_one(self, spec):
        return {"y": planted_target(spec)}

    def to_dict(self):
        return {"name": self.name}


@pytest.fixture(autouse=True)
def planted_evaluator(monkeypatch):
    monkeypatch.setitem(EVALUATORS, PlantedEvaluator.name, PlantedEvaluator)


def planted_table(n=12, seed=0):
    space = get_space("test-planted")
    # Start from the worse half of the space, so there is something to find.
    specs = [s for s in space.sample_distinct(60, np.random.default_rng(seed)) if planted_target(s) <= 0][:n]
    return validate_table(pd.DataFrame({"arch": specs, "y": [planted_target(s) for s in specs]}), space,
                          source="planted.csv")


def planted_campaign(path, method="autobuild-guided", evaluator=PlantedEvaluator()):
    # One member per round's predictor: these tests are about the loop, not the ensemble (which trains ~2x
    # longer); the ensemble's own tests are tests/predictor/test_ensemble.py.
    return Campaign.create(path, planted_table(), "y", method=method, evaluator=evaluator, epochs=30, members=1,
                           settings=SETTINGS)


@pytest.mark.slow
def test_the_loop_finds_the_planted_optimum_with_new_valid_proposals(tmp_path):
    campaign = planted_campaign(tmp_path / "c")
    assert campaign.run(3, 6) == 3
    status = campaign.status()
    table = campaign.table()
    space = get_space("test-planted")
    assert [r.round for r in status.rounds] == [0, 1, 2, 3] and status.completed_rounds == 3
    assert table["arch"].is_unique and all(space.canonical(s) == s for s in table["arch"])
    assert list(table["source"].unique()) == ["initial", "proposed-by-autobuild-guided"]
    best = [r.best_so_far for r in status.rounds]
    assert best == sorted(best)  # best so far never decreases
    assert status.pick["target"] == 4.0  # four "good" layers: the planted optimum
    assert status.rounds[-1].spearman is not None
    # Each round's proposals are written down, with what the round's predictor said of them.
    proposals = campaign.proposals(1)
    assert len(proposals) == 6 and proposals["predicted"].notna().all()
    # Each round's predictor has the campaign's ensemble size.
    assert campaign.config.members == 1 and Run.load(campaign.round_dir(3) / "run").metrics["members"]["count"] == 1


def test_a_pending_round_blocks_the_next_and_can_be_dropped(tmp_path):
    campaign = planted_campaign(tmp_path / "c", method="random")
    campaign.propose(4)
    with pytest.raises(InputError, match="round 1 has 4 proposal"):
        campaign.propose(4)
    campaign.propose(4, drop_pending=True)
    assert campaign.open_round() == 2 and len(campaign.pending()) == 4
    assert json.loads((campaign.round_dir(1) / "closed.json").read_text())["dropped"]


def test_ingest_takes_the_users_results_and_refuses_bad_rows_all_at_once(tmp_path):
    campaign = planted_campaign(tmp_path / "c", method="random", evaluator=None)  # evaluated by the user
    with pytest.raises(InputError, match="evaluated outside the tool"):
        campaign.run(1, 4)
    proposals = list(campaign.propose(4)["arch"])
    evaluated = campaign.table()["arch"].iloc[0]
    never = next(s for s in get_space("test-planted").enumerate() if s not in proposals
                 and s not in set(campaign.table()["arch"]))
    bad = pd.DataFrame({"arch": [proposals[0], evaluated, never, proposals[1]], "y": [1.0, 0.0, 2.0, np.nan]})
    path = tmp_path / "results.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        campaign.ingest(path)
    message = str(err.value)
    assert "\n" not in message and "results.csv" in message
    assert "already evaluated" in message and "never proposed" in message and "row 4" in message
    assert len(campaign.table()) == 12  # nothing appended

    good = pd.DataFrame({"arch": proposals[:2], "y": [planted_target(s) for s in proposals[:2]]})
    good.to_csv(path, index=False)
    assert campaign.ingest(path) == 2 and len(campaign.pending()) == 2
    pd.DataFrame({"arch": proposals[2:] + [never], "y": [0.0, 0.0, 1.0]}).to_csv(path, index=False)
    assert campaign.ingest(path, allow_unproposed=True) == 3
    assert campaign.open_round() is None  # every proposal answered: the round closed
    sources = campaign.table().set_index("arch")["source"]
    assert sources[never] == "uploaded" and sources[proposals[0]] == "proposed-by-random"
    with pytest.raises(InputError, match="no column"):
        pd.DataFrame({"arch": [never]}).to_csv(path, index=False)
        campaign.ingest(path)


def test_a_campaign_is_written_whole_and_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(InputError, match="cannot propose"):
        planted_campaign(tmp_path / "a", method="autobuild+evo")
    assert not (tmp_path / "a").exists()
    planted_campaign(tmp_path / "b")
    with pytest.raises(InputError, match="already exists"):
        planted_campaign(tmp_path / "b")
    with pytest.raises(InputError, match="not a campaign directory"):
        Campaign.open(tmp_path)


def test_a_campaign_keeps_its_ensemble_size_default_or_chosen_and_refuses_a_bad_one(tmp_path):
    from core.predictor.config import DEFAULT_MEMBERS, MAX_MEMBERS

    default = Campaign.create(tmp_path / "d", planted_table(), "y", method="random")
    assert json.loads((default.path / "campaign.json").read_text())["members"] == DEFAULT_MEMBERS
    assert Campaign.open(planted_campaign(tmp_path / "one").path).config.members == 1
    for bad in (0, MAX_MEMBERS + 1, True, 2.5):
        with pytest.raises(InputError, match="members must be an integer from 1 to"):
            Campaign.create(tmp_path / "bad", planted_table(), "y", method="random", members=bad)
        assert not (tmp_path / "bad").exists()
    # A campaign.json written before the option trains the default ensemble.
    config = json.loads((default.path / "campaign.json").read_text())
    del config["members"]
    (default.path / "campaign.json").write_text(json.dumps(config))
    assert Campaign.open(default.path).config.members == DEFAULT_MEMBERS


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", "loop", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env)


def _kill_9_in_round_2_then_resume(killed: Path, env: dict) -> None:
    """``loop run`` 3 rounds of 4, killed with SIGKILL once round 2 has trained; then status and the run again."""
    process = subprocess.Popen([sys.executable, "-m", "core", "loop", "run", "--campaign", str(killed), "--rounds", "3",
                                "--n", "4"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Kill once round 1 is closed and round 2 trained (on a starved machine the campaign may get further).
    while not (killed / "rounds" / "002" / "run" / "config.json").is_file() and process.poll() is None:
        assert time.time() < deadline, "round 2 never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()

    status = cli("status", "--campaign", killed)
    assert status.returncode == 0, status.stderr
    completed = Campaign.open(killed).status().completed_rounds  # 1, or more if the campaign outran the kill
    assert f"{20 + 4 * completed} architectures" in status.stdout
    if completed < 3:
        resumed = cli("run", "--campaign", killed, "--rounds", 3 - completed, "--n", 4)
        assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_kill_9_mid_campaign_then_status_and_run_resume_without_losing_or_repeating(tmp_path):
    table = tmp_path / "init.csv"
    space = get_space("nasbench201")
    specs = space.sample_distinct(20, np.random.default_rng(0))
    space.metrics_table().set_index("arch").loc[specs, ["baseline_accuracy"]].reset_index().to_csv(table, index=False)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    for out in (killed, whole):
        result = cli("init", "--space", "nasbench201", "--dataset", "cifar10", "--table", table,
                     "--target", "baseline_accuracy", "--out", out, "--epochs", 10, "--members", 1)
        assert result.returncode == 0, result.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The uninterrupted reference runs meanwhile, in its own process and directory (the second core's work).
    with (tmp_path / "whole.log").open("w") as log:
        reference_run = subprocess.Popen([sys.executable, "-m", "core", "loop", "run", "--campaign", str(whole),
                                          "--rounds", "3", "--n", "4"], cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        try:
            _kill_9_in_round_2_then_resume(killed, env)
            assert reference_run.wait(timeout=600) == 0, (tmp_path / "whole.log").read_text()[-2000:]
        finally:
            if reference_run.poll() is None:
                reference_run.kill()
                reference_run.wait()
    done, reference = Campaign.open(killed), Campaign.open(whole)
    assert json.loads((killed / "campaign.json").read_text())["members"] == 1  # loop init --members
    assert len(done.table()) == 32 and done.table()["arch"].is_unique
    assert done.table().equals(reference.table())  # nothing lost, nothing repeated, same proposals
    for r in (1, 2, 3):
        lines = (done.round_dir(r) / "evaluations.jsonl").read_text().splitlines()
        assert len(lines) == 4  # each architecture evaluated exactly once


@pytest.mark.slow
def test_loop_command_errors_are_one_line(tmp_path):
    result = cli("status", "--campaign", tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not a campaign directory" in result.stderr
    result = cli("init", "--space", "nasbench201", "--table", ROOT / "sample_data" / "nasbench201_cifar10_300.csv",
                 "--target", "bogus", "--out", tmp_path / "c")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "bogus" in result.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_a_campaign_makes_the_benchmarks_autobuild_loop_trial(tmp_path):
    # What the benchmark reports for autobuild-loop is what a user's campaign does, evaluation for evaluation.
    from core.predictor.config import PredictorConfig, TrainConfig
    from core.search.baselines import LookupOracle
    from core.search.searchers import get_searcher
    from core.workflow import train_from_table
    from tests.planted import planted_lookup

    space = get_space("test-planted")
    labelled = [s for s in space.sample_distinct(40, np.random.default_rng(7)) if planted_target(s) <= 0][:10]
    settings = SearchSettings(population=10, sample_size=3, candidates=6, rounds=2)

    def train(specs, values, r):
        table = validate_table(pd.DataFrame({"arch": specs, "y": values}), space, source="t")
        return train_from_table(table, "y", tmp_path / f"bench{r}", model_config=PredictorConfig(members=1),
                                train_config=TrainConfig(epochs=30, val_fraction=0.0, seed=0, eval_every=30)).run

    oracle = LookupOracle(planted_lookup(), "y", "y", budget=24)
    get_searcher("autobuild-loop", settings).search(space, oracle, 0, train, labelled)
    initial = validate_table(pd.DataFrame({"arch": labelled, "y": [planted_target(s) for s in labelled]}), space,
                             source="planted.csv")
    campaign = Campaign.create(tmp_path / "c", initial, "y", evaluator=PlantedEvaluator(), epochs=30, members=1,
                               settings=settings)
    campaign.run(2, 7)
    assert list(campaign.table()["arch"]) == [s for s, _, _ in oracle.history]


@pytest.mark.slow
def test_a_round_run_left_by_an_interrupted_attempt_is_retrained_when_rows_came_since(tmp_path):
    campaign = planted_campaign(tmp_path / "c")
    stale = campaign._round_run(1, campaign.table())  # trained, then the attempt died before proposing
    assert stale.config.rows == 12
    extra = next(s for s in get_space("test-planted").enumerate() if s not in set(campaign.table()["arch"]))
    path = tmp_path / "more.csv"
    pd.DataFrame({"arch": [extra], "y": [planted_target(extra)]}).to_csv(path, index=False)
    assert campaign.ingest(path, allow_unproposed=True) == 1
    campaign.propose(3)
    assert Campaign.open(campaign.path)._round_run(1, campaign.table()).config.rows == 13


@pytest.mark.slow
def test_a_round_whose_predictor_ties_its_proposals_is_retrained(tmp_path, monkeypatch):
    from core.campaign import campaign as campaign_module

    calls = []

    def tied_once(predicted):
        calls.append(np.asarray(predicted).copy())
        return len(calls) == 1  # the first predictor "ties"; the retrained one does not

    monkeypatch.setattr(campaign_module, "tied_head", tied_once)
    campaign = planted_campaign(tmp_path / "c")
    proposals = campaign.propose(4)
    events = [json.loads(line) for line in (tmp_path / "c" / "log.jsonl").read_text().splitlines()]
    retrained = [e for e in events if e.get("event") == "retrained"]
    assert len(calls) == 2 and len(retrained) == 1 and retrained[0]["round"] == 1
    run = Run.load(campaign.round_dir(1) / "run")
    assert run.config.seed != campaign.config.seed  # trained again from other starting weights
    assert len(proposals) == 4 and np.isfinite(proposals["predicted"]).all()


# ------------------------------------------------------------ evaluations that must not brick a campaign

class BrokenEvaluator(PlantedEvaluator):
    """The planted target, except NaN for a quarter of the architectures and 1e308 (finite, but far too
    large to train on) for another quarter, chosen by a stable hash of the spec (test only)."""

    name = "test-broken"

    def evaluate_one(self, spec):
        kind = zlib.crc32(spec.encode()) % 4
        return {"y": math.nan if kind == 0 else 1e308 if kind == 1 else planted_target(spec)}


def run_cli_in_process(*args):
    from tests.test_cli import cli_in_process

    return cli_in_process(*args)


@pytest.mark.slow
def test_nan_and_1e308_evaluations_through_loop_run_are_failures_and_later_rounds_still_run(tmp_path, monkeypatch):
    monkeypatch.setitem(EVALUATORS, BrokenEvaluator.name, BrokenEvaluator)
    campaign = planted_campaign(tmp_path / "c", evaluator=BrokenEvaluator())
    result = run_cli_in_process("loop", "run", "--campaign", campaign.path, "--rounds", 3, "--n", 6)
    assert result.returncode == 0, result.stderr
    assert "3 round(s) completed" in result.stdout
    table = campaign.table()
    assert np.isfinite(table["y"]).all() and (table["y"].abs() <= 4).all()  # no NaN, no 1e308 became a row
    status = Campaign.open(campaign.path).status()
    reasons = list(status.failed.values())
    assert any("returned nan for 'y'" in r for r in reasons)
    assert any("1e+308, beyond ±1e+150" in r for r in reasons)
    for r in (1, 2, 3):
        closed = json.loads((campaign.round_dir(r) / "closed.json").read_text())
        records = [json.loads(line) for line in (campaign.round_dir(r) / "evaluations.jsonl").read_text().splitlines()]
        assert closed["failed"] == sum("error" in rec for rec in records)
        assert closed["appended"] + closed["failed"] == len(records) == 6
        assert all("metrics" not in rec or math.isfinite(rec["metrics"]["y"]) and abs(rec["metrics"]["y"]) < 1e150
                   for rec in records)
    assert len(table) == 12 + sum(json.loads((campaign.round_dir(r) / "closed.json").read_text())["appended"]
                                  for r in (1, 2, 3))


def test_ingest_refuses_a_1e308_target_and_a_nan_naming_the_rows(tmp_path):
    campaign = planted_campaign(tmp_path / "c", method="random", evaluator=None)
    proposals = list(campaign.propose(3)["arch"])
    path = tmp_path / "results.csv"
    pd.DataFrame({"arch": proposals, "y": [1e308, 1.0, np.nan]}).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        campaign.ingest(path)
    message = str(err.value)
    assert "\n" not in message and "row 1: the target 'y' is 1e+308, beyond ±1e+150" in message and "row 3" in message
    assert len(campaign.table()) == 12 and campaign.pending() == proposals
    result = run_cli_in_process("loop", "ingest", "--campaign", campaign.path, "--table", path)
    assert result.returncode == 2 and "1e+308" in result.stderr and result.stderr.count("\n") == 1
    pd.DataFrame({"arch": proposals, "y": [planted_target(s) for s in proposals]}).to_csv(path, index=False)
    assert campaign.ingest(path) == 3 and campaign.open_round() is None
    campaign.propose(3)  # the next round trains and proposes as usual


@pytest.mark.slow
def test_a_directory_with_bad_rows_from_an_older_version_loads_names_them_and_goes_on(tmp_path):
    campaign = planted_campaign(tmp_path / "c")
    campaign.propose(4)
    proposals = list(campaign.proposals(1)["arch"])
    # What an older version wrote: a NaN and a 1e308 row appended to the table, and an evaluation record
    # with a NaN for a pending proposal.
    table = campaign.table()
    extra = [s for s in get_space("test-planted").enumerate() if s not in set(table["arch"]) and s not in proposals][:2]
    bad = pd.DataFrame({"arch": extra, "y": [np.nan, 1e308], "round": 0, "source": "uploaded"})
    pd.concat([table, bad], ignore_index=True).to_csv(campaign.path / "table.csv", index=False)
    with open(campaign.round_dir(1) / "evaluations.jsonl", "a") as handle:
        handle.write(json.dumps({"arch": proposals[0], "metrics": {"y": float("nan")}}) + "\n")

    reopened = Campaign.open(campaign.path)
    status = reopened.status()
    assert set(status.bad_rows) == {13, 14} and "not a finite number" in status.bad_rows[13]
    assert "1e+308" in status.bad_rows[14] and status.pick["target"] == max(table["y"])
    assert "invalid result: metric 'y' is nan" in status.failed[proposals[0]]
    printed = run_cli_in_process("loop", "status", "--campaign", campaign.path)
    assert printed.returncode == 0, printed.stderr
    assert "bad row    table.csv row 14:" in printed.stdout and "left out of training" in printed.stdout
    assert reopened.evaluate_pending() == 3  # the NaN record counts as that proposal's failure
    assert reopened.open_round() is None
    assert json.loads((reopened.round_dir(1) / "closed.json").read_text())["failed"] == 1
    proposals2 = reopened.propose(3)  # trains on the good rows only: values and architectures aligned
    assert len(proposals2) == 3 and reopened._round_run(2, reopened.usable_table()).config.rows == 15


# ------------------------------------------------------------------------- outputs and concurrent use

@pytest.mark.parametrize("out", ["table.csv", "rounds/../table.csv", "rounds/001/proposals.csv", "."])
def test_propose_out_inside_the_campaign_is_refused_before_anything_is_written(tmp_path, out):
    campaign = planted_campaign(tmp_path / "c", method="random")
    before = (campaign.path / "table.csv").read_bytes()
    result = run_cli_in_process("loop", "propose", "--campaign", campaign.path, "--n", 2,
                                "--out", f"{campaign.path}/{out}")
    assert result.returncode == 2 and "inside campaign" in result.stderr and result.stderr.count("\n") == 1
    assert (campaign.path / "table.csv").read_bytes() == before and campaign.rounds_started() == []
    # Every command's output is held to it (sample writes a table; train a run).
    sample = run_cli_in_process("sample", "--space", "nasbench201", "--n", 3, "--seed", 0,
                                "--out", campaign.path / "rounds" / "x.csv")
    assert sample.returncode == 2 and "inside campaign" in sample.stderr
    assert not (campaign.path / "rounds" / "x.csv").exists()


@pytest.mark.slow
def test_a_campaign_in_use_names_its_holder_at_once_or_waits_with_wait(tmp_path):
    import threading

    from core.campaign.files import CampaignBusy

    holder = planted_campaign(tmp_path / "c", method="random")
    with holder.session():
        started = time.perf_counter()
        result = run_cli_in_process("loop", "run", "--campaign", holder.path, "--rounds", 1, "--n", 2)
        assert time.perf_counter() - started < 10
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"in use by process {os.getpid()} since 20" in result.stderr and "--wait" in result.stderr
        with pytest.raises(CampaignBusy):
            Campaign.open(holder.path).session().__enter__()
        assert holder.rounds_started() == []  # nothing proposed by the refused run

        waited = {}

        def second():
            waited["result"] = run_cli_in_process("loop", "run", "--campaign", holder.path, "--rounds", 1,
                                                  "--n", 2, "--wait")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive()  # waiting for the holder
    thread.join(120)
    assert waited["result"].returncode == 0, waited["result"].stderr
    assert "in use by process" in waited["result"].stderr and Campaign.open(holder.path).status().completed_rounds == 1
