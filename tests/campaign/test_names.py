"""Campaign directories are claimed before anything is written (core.campaign.campaign.claim_campaign_dir), and
the files a user may have edited (campaign.json, evaluations.jsonl, an inpainting arch.json) are read
within bounds, every problem one line naming the file."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

import core.campaign.campaign
from core.campaign.campaign import Campaign
from core.errors import InputError
from core.spaces import get_space
from core.tables.validated import validate_table

SPACE = get_space("nasbench201")


def small_table():
    specs = list(SPACE.metrics_table()["arch"][:8])
    return validate_table(pd.DataFrame({"arch": specs, "y": range(len(specs))}), SPACE, source="t.csv")


def create(path: Path, **options) -> Campaign:
    return Campaign.create(path, small_table(), "y", method="random", **options)


def test_an_explicit_name_taken_while_a_campaign_is_written_is_refused_before_work(tmp_path, monkeypatch):
    # A second campaign asks for the same name while the first is writing its files.
    rivals = []
    write_frame = core.campaign.campaign._write_frame

    def write_and_race(path, frame):
        write_frame(path, frame)
        if not rivals:
            try:
                rivals.append(create(tmp_path / "c"))
            except InputError as err:
                rivals.append(err)

    monkeypatch.setattr(core.campaign.campaign, "_write_frame", write_and_race)
    first = create(tmp_path / "c")
    assert isinstance(rivals[0], InputError) and "already exists" in str(rivals[0])
    assert "\n" not in str(rivals[0])
    assert first.path == tmp_path / "c" and Campaign.open(first.path).config.method == "random"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no staging left behind


def test_automatic_names_started_in_the_same_second_get_distinct_directories(tmp_path, monkeypatch):
    from app.views.loop_setup import auto_campaign_name

    monkeypatch.setattr("time.strftime", lambda fmt, *args: "20261130-040347")
    name = auto_campaign_name("nasbench201", "cifar10", "y")
    assert name == auto_campaign_name("nasbench201", "cifar10", "y")  # the same second: the same name
    paths = [create(tmp_path / name, unique=True).path for _ in range(3)]
    assert [p.name for p in paths] == [name, f"{name}-2", f"{name}-3"]
    assert all(len(Campaign.open(p).table()) == 8 for p in paths)


def _claim(args):
    from core.campaign.names import claim_campaign_dir

    root, name = args
    try:
        return claim_campaign_dir(root, name).name
    except InputError:
        return ""


@pytest.mark.slow
def test_an_explicit_campaign_name_claimed_by_eight_processes_goes_to_one(tmp_path):
    with multiprocessing.get_context("fork").Pool(8) as pool:
        names = pool.map(_claim, [(str(tmp_path), "mine")] * 8)
    assert names.count("mine") == 1 and names.count("") == 7


def test_an_existing_directory_is_refused_and_a_failed_create_gives_its_claim_back(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="already exists"):
        create(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot create campaign directory"):
        create(tmp_path / "file" / "c")
    with pytest.raises(InputError, match="bogus"):
        Campaign.create(tmp_path / "bad", small_table(), "bogus", method="random")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("text, says", [
    ("{not json", "malformed JSON"),
    ("[" * 10_000 + "]" * 10_000, "nested"),
    ("[1, 2]", "expected a JSON object"),
    ("{}", "campaign format None is not supported"),
    ('{"format_version": 1, "space": "nasbench201"}', "invalid campaign settings"),
    ('{"format_version": 1, "space": "no-such-space", "target": "y", "metric_columns": ["y"], "evaluator": {}}',
     "unknown space"),
])
def test_a_hand_edited_campaign_json_is_one_line_naming_the_file(tmp_path, text, says):
    path = create(tmp_path / "c").path
    (path / "campaign.json").write_text(text)
    with pytest.raises(InputError) as caught:
        Campaign.open(path)
    message = str(caught.value)
    assert str(path / "campaign.json") in message and says in message and "\n" not in message


def test_hand_edited_evaluation_lines_are_one_line_errors_and_cut_lines_are_redone(tmp_path):
    campaign = create(tmp_path / "c")
    proposed = list(campaign.propose(2)["arch"])
    lines = campaign.round_dir(1) / "evaluations.jsonl"
    lines.write_text(json.dumps({"arch": proposed[0], "metrics": {"y": 1.0}}) + "\n" + "[" * 10_000 + "\n"
                     + '{"arch": "cut sho')
    assert list(campaign.outcomes(1)) == [proposed[0]]  # a line too deep or cut short: evaluated again
    assert campaign.pending() == proposed[1:]
    lines.write_text(json.dumps({"arch": proposed[0], "metrics": {"y": 1.0}}) + "\n[1, 2]\n")
    with pytest.raises(InputError, match=r"evaluations.jsonl line 2: not an evaluation record"):
        campaign.outcomes(1)


def test_an_edited_arch_json_of_an_inpainting_output_is_one_line_naming_it(tmp_path):
    from core.diffusion.pipeline import read_outputs

    folder = tmp_path / "out" / "es1"
    folder.mkdir(parents=True)
    (folder / "image_0.png").write_bytes(b"")
    (folder / "arch.json").write_text(json.dumps({"set": "Exhaustive Search", "arch": "{}", "params": 3}))
    assert read_outputs(tmp_path / "out").loc[0, "set"] == "Exhaustive Search"
    for text, says in (("[" * 10_000, "nested"), ("{oops", "malformed JSON"), ("[]", "expected a JSON object")):
        (folder / "arch.json").write_text(text)
        with pytest.raises(InputError) as caught:
            read_outputs(tmp_path / "out")
        assert str(folder / "arch.json") in str(caught.value) and says in str(caught.value)
