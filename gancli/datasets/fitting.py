"""Making any picture a square of the training size, and the header limits past which a file is
not decoded at all.

`crop` resizes the shorter side to the size and keeps the centre square, as the folder dataset
always has; `pad` resizes the longer side to the size and centres the picture on black. Both
resize with Pillow's bicubic filter, after converting to the requested mode.
"""

from __future__ import annotations

from PIL import Image

MAX_PIXELS = 64 * 2**20   # a 64-megapixel photo decodes to 192 MiB of RGB; larger files are skipped
MAX_ASPECT = 8            # a thinner image would be resized to many times the crop it gives
FITS = ("crop", "pad")
METHODS = {
    "crop": "shorter side resized to {size} (Pillow, bicubic), centre {size}x{size} kept",
    "pad": "longer side resized to {size} (Pillow, bicubic), centred on black {size}x{size}",
}


def refusal(width: int, height: int) -> str | None:
    """Why a picture of this size is never decoded (too large or too thin), or None."""
    if width * height > MAX_PIXELS:
        return f"too large: {width}x{height}, over {MAX_PIXELS // 2**20} megapixels"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return f"too thin: {width}x{height}, over {MAX_ASPECT}:1"
    return None


def method(size: int, fit: str) -> str:
    """How `fit_picture` makes a picture `size` square, in words (a pack records it)."""
    return METHODS[fit].format(size=size)


def fit_picture(image: Image.Image, size: int, fit: str = "crop", mode: str = "RGB") -> Image.Image:
    """`image` in `mode` ("RGB" or "L"; alpha dropped) as a `size` x `size` square, by `fit`."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    image = image.convert(mode)
    if fit == "crop":
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (width - size) // 2, (height - size) // 2
        return image.crop((left, top, left + size, top + size))
    scale = size / max(image.size)
    width, height = min(size, max(1, round(image.width * scale))), min(size, max(1, round(image.height * scale)))
    image = image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new(mode, (size, size), 0)
    canvas.paste(image, ((size - width) // 2, (size - height) // 2))
    return canvas
