"""Cancelling inpainting (``should_stop``): the work stops between denoising steps, raises Cancelled, and leaves
no half-written architecture behind; a ``should_stop`` that stays false changes no pixel."""
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.diffusion.gallery import parse_architectures
from core.diffusion.inpaint_inputs import load_inputs
from core.diffusion.pipeline import read_outputs, run_inpainting
from core.diffusion.sample_images import write_sample_set
from core.diffusion.small_inpaint import inpaint
from core.diffusion.small_model import TOY_CONFIG, SmallInpaintModel
from core.errors import Cancelled
from tests.diffusion.conftest import tiny_pipeline

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app


def stop_after(calls: int):
    """A should_stop that turns true on its ``calls``-th question, and counts the questions."""
    asked = {"n": 0}

    def should_stop() -> bool:
        asked["n"] += 1
        return asked["n"] >= calls
    should_stop.asked = asked
    return should_stop


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    full = write_sample_set(tmp_path_factory.mktemp("photos"), size=64)
    keep = tmp_path_factory.mktemp("two")
    for sub in ("originals", "masks"):
        (keep / sub).mkdir()
        for name in ("chelsea_0", "coffee_0"):
            shutil.copy(full / sub / f"{name}.png", keep / sub / f"{name}.png")
    return load_inputs(keep / "originals", keep / "masks", size=64)


@pytest.mark.slow
def test_small_model_inpainting_stops_between_steps_and_is_unchanged_when_not_stopped():
    torch.manual_seed(0)
    model = SmallInpaintModel(TOY_CONFIG).eval()
    size = TOY_CONFIG.image_size
    images = torch.rand(3, 3, size, size) * 2 - 1
    masks = torch.zeros(3, 1, size, size)
    masks[..., size // 4: size // 2, size // 4: size // 2] = 1
    plain, _ = inpaint(model, None, images, masks, steps=4, seed=3, batch_size=2)
    checked, _ = inpaint(model, None, images, masks, steps=4, seed=3, batch_size=2, should_stop=lambda: False)
    assert torch.equal(plain, checked)
    stop = stop_after(3)
    done = []
    with pytest.raises(Cancelled):
        inpaint(model, None, images, masks, steps=4, seed=3, batch_size=2, should_stop=stop,
                progress=lambda d, t: done.append(d))
    assert stop.asked["n"] == 3 and done == []  # stopped inside the first batch, before its 4 steps ended


@pytest.mark.slow
def test_sd_pipeline_cancel_keeps_finished_architectures_and_nothing_half_written(inputs, tmp_path):
    pipe = tiny_pipeline()
    archs = parse_architectures(["full", '{"up3":"R-R-R-"}'])
    out = tmp_path / "out"
    # 2 steps per image, 2 images: asked 3 times per image (before it, then after each denoising step), so the
    # 8th question comes after the first step of the second architecture's first image.
    stop = stop_after(8)
    with pytest.raises(Cancelled):
        run_inpainting(pipe, archs, inputs, out, steps=2, should_stop=stop)
    assert stop.asked["n"] == 8
    outputs = read_outputs(out)
    assert list(outputs["name"]) == [archs[0].name]  # the finished one, whole
    assert (out / archs[0].name / "arch.json").is_file() and outputs["images"].iloc[0] == len(inputs)
    assert not (out / archs[1].name).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]
    manifest = pd.read_csv(out / "manifest.csv")
    assert set(manifest["name"]) == {archs[0].name} and len(manifest) == len(inputs)
    # The images of the finished architecture are those of a run without a should_stop.
    again = tmp_path / "again"
    run_inpainting(pipe, archs[:1], inputs, again, steps=2)
    for item in inputs:
        a = np.asarray(Image.open(out / archs[0].name / f"{item.stem}.png"))
        b = np.asarray(Image.open(again / archs[0].name / f"{item.stem}.png"))
        assert np.array_equal(a, b)
