"""``python -m core inpaint`` on a tiny random-weight pipeline saved offline (plumbing only, not SD quality)."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.cli import main
from core.diffusion.inpaint_inputs import image_seed
from core.diffusion.pipeline import native_size, read_outputs
from core.errors import InputError
from core.diffusion.sample_images import write_sample_set

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

SMALL = '{"down0":"R-R-","mid":"R--","up1":"R-R-R-"}'


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """3 real photographs at 64 px with their masks."""
    full = write_sample_set(tmp_path_factory.mktemp("photos"), size=64)
    keep = tmp_path_factory.mktemp("three")
    for sub in ("originals", "masks"):
        (keep / sub).mkdir()
        for name in ("chelsea_0", "coffee_0", "rocket_0"):
            shutil.copy(full / sub / f"{name}.png", keep / sub / f"{name}.png")
    return keep


def inpaint(model_dir, photos, out, *archs, extra=(), size=("--size", "64")):
    argv = ["inpaint", "--model-dir", str(model_dir), "--images", str(photos / "originals"),
            "--masks", str(photos / "masks"), "--out", str(out), "--steps", "2", *size, *extra]
    for arch in archs:
        argv += ["--arch", arch]
    return main(argv)


@pytest.fixture(scope="module")
def run(tiny_model_dir, photos, tmp_path_factory):
    """One call: a table of two named architectures (with sets) plus ``full``, 3 images each."""
    tmp = tmp_path_factory.mktemp("run")
    table = tmp / "archs.csv"
    pd.DataFrame({"name": ["es1", "ab1"], "set": ["Exhaustive Search", "AutoBuild"],
                  "arch": [SMALL, '{"up3":"R-R-R-"}']}).to_csv(table, index=False)
    assert inpaint(tiny_model_dir, photos, tmp / "out", str(table), "full") == 0
    return tmp / "out"


@pytest.mark.slow
def test_one_output_per_image_per_architecture(run):
    outputs = read_outputs(run)
    assert sorted(outputs["name"]) == ["ab1", "es1", "full"]
    for name in ("ab1", "es1", "full"):
        files = sorted(p.name for p in (run / name).glob("*.png"))
        assert files == ["chelsea_0.png", "coffee_0.png", "rocket_0.png"]
        assert all(Image.open(run / name / f).size == (64, 64) for f in files)
    meta = json.loads((run / "es1" / "arch.json").read_text())
    assert meta["set"] == "Exhaustive Search" and meta["params"] < meta["params_full"]
    assert "mid_block.resnets.1" in meta["removed"]
    manifest = pd.read_csv(run / "manifest.csv")
    assert len(manifest) == 9 and set(manifest["steps"]) == {2}
    # Every architecture saw the same noise per image.
    assert manifest.groupby("image")["seed"].nunique().eq(1).all()
    assert sorted(p.name for p in (run / "_inputs" / "originals").iterdir()) == files
    # Removing blocks changes the output; the images are noise from random weights, never SD results.
    full, es1 = (np.asarray(Image.open(run / n / "coffee_0.png")) for n in ("full", "es1"))
    assert not np.array_equal(full, es1)


def test_noise_depends_on_the_image_only(tiny_model_dir, photos, run, tmp_path):
    """The same architecture reproduces its image bit for bit, whatever else is in the run."""
    solo = tmp_path / "solo"
    for sub in ("originals", "masks"):
        (solo / sub).mkdir(parents=True)
        shutil.copy(photos / sub / "coffee_0.png", solo / sub / "coffee_0.png")
    assert inpaint(tiny_model_dir, solo, tmp_path / "b", "full") == 0
    a = np.asarray(Image.open(run / "full" / "coffee_0.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "full" / "coffee_0.png"))
    assert np.array_equal(a, b)
    assert image_seed(0, "coffee_0") != image_seed(1, "coffee_0") != image_seed(0, "chelsea_0")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_model_directory_is_one_line(photos, tmp_path, capsys):
    assert inpaint(tmp_path / "no-such-model", photos, tmp_path / "out", "full") == 2
    assert "does not exist" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_not_an_inpainting_model(text2img_model_dir, tiny_model_dir, photos, tmp_path, capsys):
    assert inpaint(text2img_model_dir, photos, tmp_path / "out", "full") == 2
    assert "not an inpainting model" in one_line_error(capsys)
    assert inpaint(photos, photos, tmp_path / "out", "full") == 2
    assert "no model_index.json" in one_line_error(capsys)


def test_bad_inputs_are_one_line(tiny_model_dir, photos, tmp_path, capsys):
    assert inpaint(tiny_model_dir, photos, tmp_path / "o", '{"down1":"-ARA"}') == 2
    assert "cannot be removed" in one_line_error(capsys)
    assert inpaint(tiny_model_dir, photos, tmp_path / "o", "full", extra=["--size", "100"]) == 2
    assert "multiple of 64" in one_line_error(capsys)
    no_masks = tmp_path / "nomask"
    shutil.copytree(photos, no_masks)
    (no_masks / "masks" / "coffee_0.png").unlink()
    assert inpaint(tiny_model_dir, no_masks, tmp_path / "o", "full") == 2
    assert "coffee_0.png has no mask" in one_line_error(capsys)
    assert main(["inpaint", "--arch", "full"]) == 2
    assert "inpaint needs --model-dir" in one_line_error(capsys)


def test_make_sample(tmp_path):
    assert main(["inpaint", "--make-sample", str(tmp_path / "s"), "--size", "64"]) == 0
    assert len(list((tmp_path / "s" / "originals").glob("*.png"))) == 8


def test_without_size_inpaint_works_at_the_models_native_size(tiny_model_dir, photos, tmp_path, capsys):
    # The tiny model: U-Net sample_size 8 x VAE scale 8 (4 blocks) = 64 px, not the old fixed 512.
    assert native_size(tiny_model_dir) == 64
    assert inpaint(tiny_model_dir, photos, tmp_path / "o", "full", size=()) == 0
    assert "64x64 (the model native size)" in capsys.readouterr().out
    assert {Image.open(f).size for f in (tmp_path / "o" / "full").glob("*.png")} == {(64, 64)}
    assert inpaint(tiny_model_dir, photos, tmp_path / "p", "full", size=("--size", "128")) == 0
    assert {Image.open(f).size for f in (tmp_path / "p" / "full").glob("*.png")} == {(128, 128)}


def test_native_size_reads_sd_v1_configs_and_refuses_a_missing_sample_size(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [128, 256, 512, 512]}))
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"sample_size": 64}))
    assert native_size(tmp_path) == 512  # SD v1.x
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"sample_size": [96, 96]}))
    assert native_size(tmp_path) == 768
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"in_channels": 9}))
    with pytest.raises(InputError, match="sample_size"):
        native_size(tmp_path)
