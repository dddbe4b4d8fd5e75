"""Fixtures of the diffusion tests: a tiny SD-structured inpainting pipeline with random weights, photos.

The tiny pipeline has the SD v1.x U-Net *layout* (CrossAttnDown x3 + Down, cross-attention mid block,
Up + CrossAttnUp x3, 2 layers per block, 9 input channels) with small widths, a tiny VAE (scale factor 8),
a tiny CLIP text encoder and an in-memory tokenizer; everything is built offline from configs (data-notes).
Its images are noise: they test the plumbing, never Stable Diffusion quality.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine two OpenMP threads
    per process run the tiny pipeline 10-20x slower (measured); restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_unet(in_channels: int = 9):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(32, 64, 64, 64),
        layers_per_block=2,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    ).eval()


def tiny_pipeline(in_channels: int = 9):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=8, sample_size=64,
    ).eval()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )).eval()
    # A byte-level vocabulary covers any prompt; no merges needed for a test tokenizer.
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for token in letters + [t + "</w>" for t in letters]:
        vocab.setdefault(token, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    return StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=tiny_unet(in_channels),
        scheduler=DDIMScheduler(steps_offset=1), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.fixture(scope="session")
def make_tiny_unet():
    """The builder of a fresh tiny U-Net of the SD v1.x layout (random weights, seeded)."""
    return tiny_unet


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny inpainting pipeline directory (diffusers layout, loadable with local_files_only)."""
    path = tmp_path_factory.mktemp("tiny-sd-inpaint")
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def text2img_model_dir(tmp_path_factory) -> Path:
    """A saved tiny pipeline whose U-Net takes 4 channels: a text-to-image model, not an inpainting one."""
    path = tmp_path_factory.mktemp("tiny-sd-text2img")
    tiny_pipeline(in_channels=4).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def toy_study(tmp_path_factory):
    """A finished toy study and the toy model it ran (shared with the page test)."""
    from core.diffusion.small_model import TOY_CONFIG, SmallInpaintModel, save_model
    from core.diffusion.study import run_study
    from core.diffusion.study_config import TOY_STUDY

    root = tmp_path_factory.mktemp("sd-study")
    torch.manual_seed(0)
    model = SmallInpaintModel(TOY_CONFIG).eval()
    save_model(model, root / "model")
    run_study(model, root / "study", TOY_STUDY, log=lambda line: None)
    return root
