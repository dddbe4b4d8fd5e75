"""The FID evaluator on a tiny random-weight SD inpainting pipeline saved offline (plumbing, not SD quality):
two sd-unet architectures inpaint 3 real photographs at 64 px in 2 steps and get an FID each."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.diffusion.pipeline import read_outputs
from core.diffusion.run_architectures import default_name
from core.diffusion.sample_images import write_sample_set
from core.errors import InputError
from core.evaluators import EVALUATORS, FIDEvaluator, evaluator_from_dict
from core.evaluators.executors import evaluate_batch
from core.spaces import get_space
from tests.diffusion.conftest import tiny_pipeline

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

SMALL = '{"down0":"R-R-","mid":"R--","up1":"R-R-R-"}'
OTHER = '{"up3":"R-R-R-"}'
BAD = '{"down0":"-ARA"}'  # the first R of a stage cannot be removed
STEMS = ("chelsea_0", "coffee_0", "rocket_0")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-sd-inpaint")
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """3 real photographs at 64 px with their masks."""
    full = write_sample_set(tmp_path_factory.mktemp("photos"), size=64)
    keep = tmp_path_factory.mktemp("three")
    for sub in ("originals", "masks"):
        (keep / sub).mkdir()
        for name in STEMS:
            shutil.copy(full / sub / f"{name}.png", keep / sub / f"{name}.png")
    return keep


def make(model_dir, photos, out, **options):
    settings = dict(model_dir=str(model_dir), images=str(photos / "originals"), masks=str(photos / "masks"),
                    out=str(out), steps=2, size=64, seed=0, device="cpu", cache_dir=str(out.parent / "cache"))
    return FIDEvaluator(**{**settings, **options})


@pytest.fixture(scope="module")
def evaluated(model_dir, photos, tmp_path_factory):
    evaluator = make(model_dir, photos, tmp_path_factory.mktemp("fid") / "out")
    return evaluator, evaluate_batch(evaluator, [SMALL, OTHER, BAD])


@pytest.mark.slow
def test_each_architecture_gets_a_finite_fid_and_its_outputs(evaluated):
    evaluator, batch = evaluated
    space = get_space("sd-unet")
    assert list(batch.rows.columns) == ["arch", "fid"] and list(batch.rows["arch"]) == [SMALL, OTHER]
    fids = batch.rows["fid"].tolist()
    assert all(math.isfinite(f) and f > 0 for f in fids)
    assert fids[0] != fids[1]  # removing different blocks changes the outputs
    out = Path(evaluator.out)
    names = [default_name(space.canonical(s)) for s in (SMALL, OTHER)]
    for name, fid in zip(names, fids):
        assert sorted(p.stem for p in (out / name).glob("*.png")) == list(STEMS)
        record = json.loads((out / name / "fid.json").read_text())
        assert record["fid"] == pytest.approx(fid) and record["n_generated"] == 3
        assert json.loads((out / name / "arch.json").read_text())["arch"] == space.canonical(
            SMALL if name == names[0] else OTHER)
    assert sorted(read_outputs(out)["name"]) == sorted(names)  # the inpainting page sees both, not the work folders
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 6 and sorted(set(manifest["name"])) == sorted(names)
    assert sorted(p.stem for p in (out / "_inputs" / "originals").iterdir()) == list(STEMS)
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_a_bad_spec_is_an_error_entry_for_that_spec(evaluated):
    _, batch = evaluated
    assert list(batch.errors) == [BAD]
    assert "cannot be removed" in batch.errors[BAD] and "\n" not in batch.errors[BAD]


def test_same_spec_and_seed_give_the_same_fid_after_a_round_trip(evaluated):
    evaluator, batch = evaluated
    description = evaluator.to_dict()
    rebuilt = evaluator_from_dict(json.loads(json.dumps(description)))
    assert isinstance(rebuilt, FIDEvaluator) and rebuilt.to_dict() == description
    again = evaluate_batch(rebuilt, [SMALL])
    assert again.errors == {}
    assert again.rows["fid"].iloc[0] == pytest.approx(batch.rows["fid"].iloc[0], rel=1e-9)
    manifest = pd.read_csv(Path(rebuilt.out) / "manifest.csv")
    assert len(manifest) == 6  # the re-run replaced its rows, did not append them


def test_interface(evaluated, model_dir, photos, tmp_path):
    evaluator, _ = evaluated
    assert EVALUATORS["fid"] is FIDEvaluator and evaluator.space_name == "sd-unet"
    assert evaluator.metrics() == ("fid",)
    assert evaluator.task_resources() == {"num_cpus": 1}
    assert make(model_dir, photos, tmp_path / "o", device="cuda").task_resources() == {"num_cpus": 1, "num_gpus": 1}
    line = evaluator.describe()
    assert "\n" not in line and "3 images" in line and "64x64" in line and "2 steps" in line


def one_line_error(match, **options):
    with pytest.raises(InputError, match=match) as info:
        FIDEvaluator(**options)
    assert "\n" not in str(info.value)


def test_bad_options_are_one_line_input_errors(model_dir, photos, tmp_path):
    base = dict(model_dir=str(model_dir), images=str(photos / "originals"), masks=str(photos / "masks"),
                out=str(tmp_path / "out"))
    one_line_error(f"model directory .*{tmp_path.name}.*nowhere does not exist",
                   **{**base, "model_dir": str(tmp_path / "nowhere")})
    one_line_error("images folder .*missing does not exist", **{**base, "images": str(tmp_path / "missing")})
    one_line_error("masks folder .*missing does not exist", **{**base, "masks": str(tmp_path / "missing")})
    one_line_error("reference folder .*missing does not exist", **{**base, "reference": str(tmp_path / "missing")})
    one_line_error("size 96 must be a positive multiple of 64", **{**base, "size": 96})
    one_line_error("steps must be an integer >= 1", **{**base, "steps": 0})
    one_line_error("dtype 'float8'", **{**base, "dtype": "float8"})
    one_line_error("not a torch device", **{**base, "device": "gpu0"})
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(photos / "originals" / "coffee_0.png", lonely)
    one_line_error("at least 2 images", **{**base, "images": str(lonely)})
    with pytest.raises(InputError, match="bad options"):
        evaluator_from_dict({"name": "fid", "model_dir": str(model_dir), "colour": "blue"})


@pytest.mark.slow
def test_importing_the_evaluators_loads_no_diffusers():
    code = "import sys, core.evaluators; assert 'diffusers' not in sys.modules, 'diffusers imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_campaign_evaluated_by_fid_from_the_command_line(model_dir, photos, tmp_path):
    """`loop init --evaluator fid` then `loop run`: real inpainting + FID of each proposal."""
    import pandas as pd

    from core.campaign.campaign import Campaign
    from tests.test_cli import assert_one_line_error, cli_in_process

    table = tmp_path / "sd.csv"
    pd.DataFrame({"arch": [SMALL, OTHER], "fid": [150.0, 160.0]}).to_csv(table, index=False)
    campaign = tmp_path / "camp"
    base = ["loop", "init", "--space", "sd-unet", "--table", table, "--target=-fid", "--out", campaign]
    assert_one_line_error(cli_in_process(*base, "--evaluator", "fid"), "needs --model-dir, --images, --masks")
    result = cli_in_process(*base, "--model-dir", model_dir, "--images", photos / "originals", "--masks",
                            photos / "masks", "--steps", 2, "--size", 64)
    assert result.returncode == 0, result.stderr
    assert "FID" in result.stdout or "fid" in result.stdout
    result = cli_in_process("loop", "run", "--campaign", campaign, "--rounds", 1, "--n", 1, "--method", "random")
    assert result.returncode == 0, result.stderr
    rows = Campaign.open(campaign).table()
    assert len(rows) == 3 and rows["fid"].iloc[-1] > 0 and rows["source"].iloc[-1] == "proposed-by-random"
    assert (campaign / "inpainting" / "manifest.csv").is_file()
