"""Opening user images (inpainting inputs and masks, FID folders) within an explicit pixel limit.

PIL only warns above ``Image.MAX_IMAGE_PIXELS`` (89 MP) and raises its own ``DecompressionBombError``
above twice that, so a 17.5 KB PNG of 12000 x 12000 pixels would be decoded into gigabytes. Here the
size in the file's header is checked before a single pixel is decoded, and anything over
:data:`MAX_IMAGE_PIXELS` is one :class:`~core.errors.InputError` line naming the file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from core.errors import InputError

#: Largest image accepted, in pixels: a 24 MP camera photo (6000 x 4000) fits; decoded and converted to
#: float32 for Inception it stays under 300 MB.
MAX_IMAGE_PIXELS = 25_000_000


def open_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """The image at ``path`` fully loaded and converted to ``mode``; a one-line error when it is not a
    readable image or is larger than :data:`MAX_IMAGE_PIXELS`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InputError(_too_large(path, width, height))
                return img.convert(mode)
    except Image.DecompressionBombError:
        raise InputError(_too_large(path, None, None)) from None
    except (OSError, ValueError, SyntaxError) as err:  # PIL reports corrupt files with all three
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot read image {path}: {first}") from None


def _too_large(path: Path, width: int | None, height: int | None) -> str:
    size = f"{width} x {height} pixels" if width is not None else "far too many pixels"
    return (f"image {path} is {size}; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
            "(resize it first)")
