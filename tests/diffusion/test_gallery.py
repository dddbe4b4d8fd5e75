"""What the Inpainting page shows (core.diffusion.gallery): enlarged small outputs keep their pixels."""
import numpy as np
from PIL import Image

from core.diffusion.gallery import tile_sheet, upscaled


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


def test_tile_sheet_lays_out_every_image_once(tmp_path):
    files = []
    for i in range(6):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    sheet = np.asarray(tile_sheet(files, columns=4, side=256))
    assert sheet.shape == (2 * 65 - 1, 4 * 65 - 1, 3)  # 64-pixel tiles, 1-pixel lines, 2 rows
    for i in range(6):
        row, col = divmod(i, 4)
        assert tuple(sheet[row * 65 + 30, col * 65 + 30]) == (i * 40, 0, 0)
    assert tuple(sheet[64, 10]) == (128, 128, 128)  # the line between rows; empty slots stay grey too
