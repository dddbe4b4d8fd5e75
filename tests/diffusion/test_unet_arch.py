"""Applying sd-unet architectures to a (tiny, random-weight) U-Net of the SD v1.x layout."""
import copy

import pytest
import torch

from core.diffusion.unet_arch import (
    BypassedAttention,
    BypassedResnet,
    apply_architecture,
    check_layout,
    count_parameters,
)
from core.errors import InputError

SMALL = '{"down0": "R-R-", "down1": "RAR-", "down3": "R-", "mid": "R--", "up1": "R-R-RA"}'
REMOVED = ["down_blocks.0.attentions.0", "down_blocks.0.attentions.1", "down_blocks.1.attentions.1",
           "down_blocks.3.resnets.1", "mid_block.attentions.0", "mid_block.resnets.1",
           "up_blocks.1.attentions.0", "up_blocks.1.attentions.1"]


@pytest.fixture(scope="module")
def unet(make_tiny_unet):
    return make_tiny_unet()


def forward(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 9, 8, 8, generator=g)  # [B, 4 latents + 1 mask + 4 masked latents, h, w]
    context = torch.randn(1, 77, 32, generator=g)  # [B, tokens, cross_attention_dim]
    with torch.no_grad():
        return model(sample, torch.tensor([10]), encoder_hidden_states=context).sample


def test_removes_exactly_the_intended_blocks(unet):
    applied = apply_architecture(unet, SMALL)
    assert applied.removed == REMOVED
    for path in REMOVED:
        module = applied.unet.get_submodule(path)
        assert isinstance(module, BypassedResnet if ".resnets." in path else BypassedAttention)
        assert not isinstance(unet.get_submodule(path), (BypassedResnet, BypassedAttention))
    # Kept blocks are the original modules, weights untouched and shared.
    assert applied.unet.get_submodule("down_blocks.0.resnets.1") is unet.get_submodule("down_blocks.0.resnets.1")
    assert applied.unet.get_submodule("up_blocks.1.attentions.2") is unet.get_submodule("up_blocks.1.attentions.2")
    assert applied.unet.conv_in is unet.conv_in


def test_parameter_count_drops_by_the_removed_blocks(unet):
    applied = apply_architecture(unet, SMALL)
    removed = sum(count_parameters(unet.get_submodule(p)) for p in REMOVED)
    assert applied.params_full == count_parameters(unet)
    assert applied.params == applied.params_full - removed < applied.params_full
    assert "removed: down_blocks.0.attentions.0" in applied.summary()


def test_output_shape_and_original_untouched(unet):
    before = forward(unet)
    full = apply_architecture(unet, "{}")
    assert full.removed == [] and full.params == full.params_full
    assert torch.equal(forward(full.unet), before)
    out = forward(apply_architecture(unet, SMALL).unet)
    assert out.shape == before.shape == (1, 4, 8, 8)
    assert not torch.allclose(out, before)
    assert torch.equal(forward(unet), before)  # applying never modified the original


def test_rejects_other_layouts():
    from diffusers import UNet2DConditionModel

    other = UNet2DConditionModel(
        sample_size=8, in_channels=9, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=2, cross_attention_dim=32, attention_head_dim=8)
    with pytest.raises(InputError, match="not the SD v1.x layout"):
        check_layout(other)
    with pytest.raises(InputError, match="expected a diffusers UNet2DConditionModel"):
        apply_architecture(torch.nn.Linear(2, 2), "{}")


@pytest.mark.slow
def test_refuses_to_bypass_a_channel_changing_resnet(make_tiny_unet):
    unet = make_tiny_unet()
    block = copy.copy(unet.down_blocks[0].resnets[1])
    block.in_channels = 16  # as if this ResNet mapped 16 -> 32 channels
    unet.down_blocks[0].resnets[1] = block
    with pytest.raises(InputError, match="cannot bypass down_blocks.0.resnets.1"):
        apply_architecture(unet, '{"down0": "RA--"}')
