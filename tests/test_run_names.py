"""Run names are claimed atomically (core.runs.claim_run_dir): across processes, automatic names never
collide and an explicit name is granted to exactly one caller."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from core.runs import RunNameTaken, claim_run_dir, list_runs, release_run_dir


def _claim(args: tuple[str, str, bool]) -> str:
    root, name, unique = args
    try:
        return claim_run_dir(root, name, unique=unique).name
    except RunNameTaken:
        return ""


def _claim_in_processes(root: Path, name: str, unique: bool, n: int = 8) -> list[str]:
    with multiprocessing.get_context("fork").Pool(n) as pool:
        return pool.map(_claim, [(str(root), name, unique)] * n)


def test_automatic_names_claimed_at_once_by_eight_processes_are_distinct_and_readable(tmp_path):
    names = _claim_in_processes(tmp_path, "nasbench-graph-cora-valid_perf-20261130-040347", unique=True)
    assert sorted(names) == sorted(["nasbench-graph-cora-valid_perf-20261130-040347"]
                                   + [f"nasbench-graph-cora-valid_perf-20261130-040347-{i}" for i in range(2, 9)])


def test_an_explicit_name_claimed_at_once_goes_to_exactly_one_process(tmp_path):
    names = _claim_in_processes(tmp_path, "mine", unique=False)
    assert names.count("mine") == 1 and names.count("") == 7


def test_a_claim_is_not_a_run_and_can_be_given_back(tmp_path):
    path = claim_run_dir(tmp_path, "mine")
    assert list_runs(tmp_path) == []  # an empty claim is not listed
    with pytest.raises(RunNameTaken, match="'mine' already exists or is being trained"):
        claim_run_dir(tmp_path, "mine")
    release_run_dir(path)
    assert claim_run_dir(tmp_path, "mine") == path
    (path / "config.json").write_text("{}")
    release_run_dir(path)  # a filled directory is a run: never removed
    assert path.is_dir()
