"""Run names are claimed atomically (core.runs.names.claim_run_dir): across processes, automatic names never
collide and an explicit name is granted to exactly one caller."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from core.runs.names import RunNameTaken, claim_run_dir, release_run_dir
from core.runs.listing import list_runs


def _claim(args: tuple[str, str, bool]) -> str:
    root, name, unique = args
    try:
        return claim_run_dir(root, name, unique=unique).name
    except RunNameTaken:
        return ""


def _claim_in_processes(root: Path, name: str, unique: bool, n: int = 8) -> list[str]:
    with multiprocessing.get_context("fork").Pool(n) as pool:
        return pool.map(_claim, [(str(root), name, unique)] * n)


@pytest.mark.slow
def test_automatic_names_claimed_at_once_by_eight_processes_are_distinct_and_readable(tmp_path):
    names = _claim_in_processes(tmp_path, "nasbench-graph-cora-valid_perf-20261130-040347", unique=True)
    assert sorted(names) == sorted(["nasbench-graph-cora-valid_perf-20261130-040347"]
                                   + [f"nasbench-graph-cora-valid_perf-20261130-040347-{i}" for i in range(2, 9)])


@pytest.mark.slow
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


# ------------------------------------------------------------------ saving into a claimed name

def _saved_with_rivals(monkeypatch, root: Path, out: Path, run, *, overwrite: bool) -> list[str]:
    """Save ``run`` to ``out`` while a rival tries to claim the name after every rename and rmdir
    save_run makes (the instants a name could be free); returns what each attempt got."""
    import os

    import core.runs.run
    from core.runs.run import save_run

    attempts: list[str] = []

    def rival() -> None:
        try:
            claim_run_dir(root, out.name)
            attempts.append("claimed")
        except RunNameTaken:
            attempts.append("refused")

    def spied(fn):
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            finally:
                rival()
        return call

    monkeypatch.setattr(os, "rename", spied(os.rename))
    monkeypatch.setattr(os, "replace", spied(os.replace))
    monkeypatch.setattr(Path, "rename", spied(Path.rename))
    monkeypatch.setattr(Path, "rmdir", spied(Path.rmdir))
    monkeypatch.setattr(core.runs.run, "_exchange", spied(core.runs.run._exchange))
    save_run(out, config=run.config, model=run.model, metrics=run.metrics, table=run.table(), overwrite=overwrite)
    monkeypatch.undo()
    return attempts


@pytest.mark.slow
def test_saving_into_a_claim_never_leaves_the_name_free_for_another_claim(nb201_run, tmp_path, monkeypatch):
    from core.runs.run import Run

    source = nb201_run.run
    root = tmp_path / "runs"
    claimed = claim_run_dir(root, "mine")
    attempts = _saved_with_rivals(monkeypatch, root, claimed, source, overwrite=False)
    assert attempts and set(attempts) == {"refused"}
    saved = Run.load(claimed)
    assert saved.config.table_hash == source.config.table_hash
    assert sorted(p.name for p in root.iterdir()) == ["mine"]  # no staging or claim left behind


@pytest.mark.parametrize("can_swap", [True, False])
def test_overwriting_a_run_replaces_it_whole_and_keeps_the_name(nb201_run, tmp_path, monkeypatch, can_swap):
    import core.runs.run
    from core.runs.run import Run, save_run

    source = nb201_run.run
    root = tmp_path / "runs"
    out = root / "mine"
    save_run(out, config=source.config, model=source.model, metrics=source.metrics, table=source.table())
    (out / "marker").write_text("the old run")
    if not can_swap:  # a filesystem without renameat2(RENAME_EXCHANGE): the old run is moved aside first
        monkeypatch.setattr(core.runs.run, "_exchange", lambda a, b: False)
    attempts = _saved_with_rivals(monkeypatch, root, out, source, overwrite=True)
    if can_swap:
        assert attempts and set(attempts) == {"refused"}
    assert not (out / "marker").exists() and Run.load(out).config.table_hash == source.config.table_hash
    assert sorted(p.name for p in root.iterdir()) == ["mine"]


def test_saving_to_a_free_name_claims_it_and_a_refused_save_gives_the_claim_back(nb201_run, tmp_path):
    from core.errors import InputError
    from core.runs.run import Run, save_run

    source = nb201_run.run
    out = tmp_path / "runs" / "new"
    save_run(out, config=source.config, model=source.model, metrics=source.metrics, table=source.table())
    assert Run.load(out).config.table_hash == source.config.table_hash
    with pytest.raises(InputError, match="already exists"):
        save_run(out, config=source.config, model=source.model, metrics=source.metrics, table=source.table())
    assert sorted(p.name for p in out.parent.iterdir()) == ["new"]


def test_a_failed_overwrite_without_swap_puts_the_old_run_back(nb201_run, tmp_path, monkeypatch):
    import os

    import core.runs.run
    from core.runs.run import Run, save_run

    source = nb201_run.run
    out = tmp_path / "runs" / "mine"
    save_run(out, config=source.config, model=source.model, metrics=source.metrics, table=source.table())
    (out / "marker").write_text("the old run")
    monkeypatch.setattr(core.runs.run, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename_fails_onto_out(src, dst):
        moved_aside = any(p.name.endswith("-old") for p in out.parent.iterdir())
        if os.fspath(dst) == os.fspath(out) and moved_aside and not os.fspath(src).endswith("-old"):
            raise OSError(5, "simulated I/O error")  # placing the new run fails after the old one moved aside
        return real_rename(src, dst)

    monkeypatch.setattr(core.runs.run.os, "rename", rename_fails_onto_out)
    with pytest.raises(OSError, match="simulated"):
        save_run(out, config=source.config, model=source.model, metrics=source.metrics, table=source.table(),
                 overwrite=True)
    monkeypatch.undo()
    assert (out / "marker").read_text() == "the old run" and Run.load(out).config.rows == source.config.rows
