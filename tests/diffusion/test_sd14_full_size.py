"""The sd-unet space against the real SD v1.4 inpainting U-Net, built at full size on the meta device."""
import json

import pytest
import torch

from core.diffusion.sd14_unet import (
    CONTEXT_DIM,
    CONTEXT_TOKENS,
    LATENT_SIZE,
    block_report,
    build_sd14_unet,
)
from core.diffusion.unet_arch import apply_architecture, check_layout
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC, STAGES, stage_masks

#: The published parameter count of the SD v1.x U-Net (859,520,964 with 4 input channels) plus the
#: 5 extra input channels of the inpainting conv_in: 5 * 320 * 3 * 3.
SD14_INPAINT_PARAMS = 859_520_964 + 5 * 320 * 9


@pytest.fixture(scope="module")
def unet():
    return build_sd14_unet("meta")


@pytest.fixture(scope="module")
def report(unet):
    return block_report(unet)


def test_full_size_config_is_sd14_inpainting(unet):
    check_layout(unet)
    assert sum(p.numel() for p in unet.parameters()) == SD14_INPAINT_PARAMS
    assert unet.conv_in.in_channels == 9 and unet.conv_out.out_channels == 4


def test_every_optional_block_is_an_identity_and_every_kept_rule_is_needed(report):
    assert len(report) == sum(len(s.layout) for s in STAGES) == 38
    optional = report[report["space"] == "optional"]
    assert (optional["removable"] == "identity").all()
    assert (optional["in_channels"] == optional["out_channels"]).all()
    # Every shortcut-only ResNet is kept by the space: channel changers (down1/down2 first R) and all up Rs.
    shortcut = report[report["removable"] == "shortcut only"]
    assert set(shortcut["kind"]) == {"R"} and (shortcut["space"] != "optional").all()
    assert set(shortcut["module"]) == ({"down_blocks.1.resnets.0", "down_blocks.2.resnets.0"}
                                       | {f"up_blocks.{b}.resnets.{r}" for b in range(4) for r in range(3)})
    # Every attention block is optional and an identity.
    attn = report[report["kind"] == "A"]
    assert len(attn) == 16 and (attn["space"] == "optional").all()


def test_space_size_at_real_widths(report):
    """Per stage, the configurations allowed by the real channel counts are the space's stage masks."""
    size = 1
    for stage in STAGES:
        rows = report[report["stage"] == stage.name].reset_index(drop=True)
        optional_r = [p for p, k in enumerate(stage.layout) if k == "R" and rows.loc[p, "space"] == "optional"]
        attn = [p for p, k in enumerate(stage.layout) if k == "A"]
        # an A is removable alone or with its R; an optional R takes its A with it
        count = 1
        for p in optional_r:
            count *= 3 if p + 1 in attn else 2
        free_attn = [p for p in attn if p - 1 not in optional_r]
        count *= 2 ** len(free_attn)
        assert count == len(stage_masks(stage.name)), stage.name
        size *= count
    assert size == get_space("sd-unet").size() == 884_736


def test_removed_block_parameter_counts(unet, report):
    params = dict(zip(report["module"], report["params"]))
    assert params["down_blocks.0.attentions.0"] == 2_546_240
    assert params["mid_block.resnets.1"] == 31_138_560
    assert params["down_blocks.2.attentions.1"] == 34_760_960
    spec = json.dumps({"down0": "R-R-", "down2": "RAR-", "mid": "R--", "up1": "R-R-RA"})
    applied = apply_architecture(unet, spec)
    assert applied.params_full - applied.params == sum(params[m] for m in applied.removed)
    assert applied.params_full == SD14_INPAINT_PARAMS


@pytest.mark.parametrize("masks", [
    {},
    {"down0": "R-R-", "down3": "R-", "mid": "R--", "up3": "R-R-R-"},
    {"down1": "R-R-", "down2": "RAR-", "up1": "R-R-R-", "up2": "R-RAR-"},
    {s.name: stage_masks(s.name)[-1] for s in STAGES},  # the smallest architecture
])
@pytest.mark.slow
def test_full_size_forward_of_removed_block_variants(unet, masks):
    applied = apply_architecture(unet, json.dumps(masks))
    with torch.device("meta"):
        sample = torch.empty(2, 9, LATENT_SIZE, LATENT_SIZE)
        context = torch.empty(2, CONTEXT_TOKENS, CONTEXT_DIM)
        timestep = torch.tensor([10, 500])
    with torch.no_grad():
        out = applied.unet(sample, timestep, encoder_hidden_states=context).sample
    assert out.shape == (2, 4, LATENT_SIZE, LATENT_SIZE)
    assert (applied.spec == FULL_SPEC) == (not masks)
