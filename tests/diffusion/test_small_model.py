"""The small SD-layout inpainting model at toy size: every architecture runs, a training step with block
removal updates only kept blocks, training resumes, weights round-trip in float16, inpainting keeps pixels."""
import json

import numpy as np
import pytest
import torch

from core.diffusion.photo_tiles import (
    EVAL_FRACTION,
    TileSampler,
    evaluation_set,
    random_masks,
    to_tensor,
)
from core.diffusion.small_inpaint import diffusion_loss, inpaint
from core.diffusion.small_model import (
    TOY_CONFIG,
    SmallInpaintModel,
    load_model,
    save_model,
)
from core.diffusion.small_train import SmallTrainConfig, train_small_model
from core.diffusion.unet_arch import apply_architecture
from core.spaces.sd_unet import FULL_MASKS, STAGES, spec_string, stage_masks


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SmallInpaintModel(TOY_CONFIG).eval()


def every_stage_mask() -> list[str]:
    """Each valid mask of each stage (the others whole), plus the smallest architecture."""
    specs = [spec_string({**FULL_MASKS, s.name: m}) for s in STAGES for m in stage_masks(s.name)]
    return specs + [spec_string({s.name: stage_masks(s.name)[-1] for s in STAGES})]


@pytest.mark.slow
def test_every_stage_configuration_runs(model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 16, 16, generator=g)
    mask = random_masks(1, 16, g)
    outputs = set()
    for spec in every_stage_mask():
        unet = apply_architecture(model.unet, spec).unet
        with torch.no_grad():
            eps = model(unet, x, torch.tensor([500]), mask, x * (1 - mask))
        assert eps.shape == (1, 3, 16, 16) and torch.isfinite(eps).all()
        outputs.add(round(float(eps.sum()), 4))
    assert len(outputs) > len(STAGES)  # removing blocks changes the output


@pytest.mark.slow
def test_training_step_with_block_removal_updates_only_kept_blocks():
    torch.manual_seed(0)
    model = SmallInpaintModel(TOY_CONFIG)
    spec = json.dumps({"down0": "R-R-", "mid": "R--"})
    applied = apply_architecture(model.unet, spec)
    images = TileSampler(16, seed=0).batch(4)
    loss = diffusion_loss(model, applied.unet, images, random_masks(4, 16, torch.Generator().manual_seed(0)),
                          torch.Generator().manual_seed(1))
    loss.backward()
    for path in applied.removed:
        assert all(p.grad is None for p in model.unet.get_submodule(path).parameters()), path
    assert model.unet.get_submodule("down_blocks.0.resnets.0").conv1.weight.grad.abs().sum() > 0
    assert model.context.grad.abs().sum() > 0


@pytest.mark.slow
def test_train_resume_and_float16_round_trip(tmp_path):
    config = SmallTrainConfig(steps=2, batch_size=2, model=TOY_CONFIG, full_probability=0.0, checkpoint_every=1,
                              tile_bank=8)
    assert train_small_model(tmp_path, config, "cpu", max_seconds=0) is None  # stopped after one step
    assert not (tmp_path / "model").exists() and (tmp_path / "checkpoint.pt").is_file()
    train_small_model(tmp_path, config, "cpu")
    lines = (tmp_path / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss,removed_blocks" and len(lines) == 3
    assert all(int(r.split(",")[2]) >= 0 for r in lines[1:])
    resumed = train_small_model(tmp_path, SmallTrainConfig(**{**config.__dict__, "steps": 3}), "cpu")
    assert [int(r.split(",")[0]) for r in (tmp_path / "loss.csv").read_text().splitlines()[1:]] == [1, 2, 3]
    assert json.loads((tmp_path / "training.json").read_text())["steps"] == 3
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "This is not Stable Diffusion v1.4" in card and "| 3 |" in card and "CC BY 2.0" in card
    loaded = load_model(tmp_path / "model")
    for key, value in resumed.state_dict().items():
        assert torch.allclose(loaded.state_dict()[key], value.half().float()), key
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(tmp_path / "model" / "model.safetensors")).values()} == {torch.float16}


@pytest.mark.slow
def test_inpainting_keeps_known_pixels_and_shares_noise(model, tmp_path):
    tiles = evaluation_set(16, per_photo=1)
    images = torch.stack([to_tensor(t) for _, t, _, _ in tiles[:3]])
    masks = torch.stack([torch.from_numpy(np.asarray(m, dtype=np.float32) / 255)[None] for _, _, m, _ in tiles[:3]])
    out, seconds = inpaint(model, None, images, masks, steps=3, seed=7)
    keep = masks.expand_as(images) == 0
    assert torch.equal(out[keep], images[keep]) and seconds > 0
    again, _ = inpaint(model, None, images, masks, steps=3, seed=7, batch_size=2)
    assert torch.allclose(out, again, atol=1e-5)  # batching does not change an image's noise
    smaller, _ = inpaint(model, json.dumps({"mid": "R--"}), images, masks, steps=3, seed=7)
    assert not torch.allclose(out, smaller)
    save_model(model, tmp_path / "m")
    assert torch.allclose(inpaint(load_model(tmp_path / "m"), None, images, masks, steps=3, seed=7)[0], out,
                          atol=0.05)


def test_tile_bank_batches_are_seeded_tiles_of_the_bank():
    a, b = TileSampler(8, seed=3, bank=5), TileSampler(8, seed=3, bank=5)
    assert torch.equal(a.batch(7), b.batch(7))
    batch = a.batch(20)
    bank = torch.cat([a.bank, a.bank.flip(-1)])
    assert all((bank == tile).flatten(1).all(1).any() for tile in batch)
    assert batch.min() >= -1 and batch.max() <= 1


def test_evaluation_tiles_come_from_the_held_out_part():
    tiles = evaluation_set(16, per_photo=2, seed=0)
    assert len({name for name, *_ in tiles}) == len(tiles) >= 8
    assert 0 < EVAL_FRACTION < 0.5
