"""What the Inpainting page shows (core.diffusion.gallery): enlarged small outputs keep their pixels."""
import numpy as np
from PIL import Image

from core.diffusion.gallery import upscaled


def test_small_images_are_enlarged_by_a_whole_factor_without_smoothing(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "tile.png")
    big = upscaled(tmp_path / "tile.png")
    assert big.size == (128, 128)
    # every 8 x 8 block is one original pixel, exactly
    assert np.array_equal(np.asarray(big)[::8, ::8], pixels)
    assert np.array_equal(np.asarray(big)[7::8, 7::8], pixels)


def test_large_images_are_left_alone():
    image = Image.new("RGB", (300, 200))
    assert upscaled(image) is image
