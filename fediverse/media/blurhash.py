"""BlurHash placeholders (https://blurha.sh), computed in pure Python on a small copy of the image."""

from __future__ import annotations

import math

from PIL import Image

BLURHASH_COMPONENTS = (4, 4)  # Mastodon's choice: clients expect hashes of this size


def blurhash_of(image: Image.Image) -> str:
    small = image.copy()
    small.thumbnail((64, 64), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if small.mode in ("RGBA", "LA"):
        flat = Image.new("RGB", small.size, (255, 255, 255))
        flat.paste(small.convert("RGBA"), mask=small.getchannel("A"))
        small = flat
    return blurhash_encode(small.convert("RGB"), *BLURHASH_COMPONENTS)


BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_TO_LINEAR = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in range(256)]


def _base83(value: int, length: int) -> str:
    return "".join(BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_srgb_byte(value: float) -> int:
    v = min(1.0, max(0.0, value))
    return int(v * 12.92 * 255 + 0.5) if v <= 0.0031308 else int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def blurhash_encode(image: Image.Image, x_components: int, y_components: int) -> str:
    """The BlurHash of an RGB image (keep it small: ~64x64). Separable sums keep pure Python at a few ms."""
    width, height = image.size
    pixels = image.tobytes()
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(y_components)]
    # rows[i][y] = per-channel sums over x of cos_x[i][x] * linear(pixel), then over y for each j.
    rows = [[[0.0, 0.0, 0.0] for _ in range(height)] for _ in range(x_components)]
    for y in range(height):
        offset = y * width * 3
        line = [_TO_LINEAR[b] for b in pixels[offset:offset + width * 3]]
        reds, greens, blues = line[0::3], line[1::3], line[2::3]
        for i in range(x_components):
            weights = cos_x[i]
            rows[i][y] = [sum(w * c for w, c in zip(weights, channel, strict=True))
                          for channel in (reds, greens, blues)]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        for i in range(x_components):
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            sums = [sum(cos_y[j][y] * rows[i][y][k] for y in range(height)) * scale for k in range(3)]
            factors.append((sums[0], sums[1], sums[2]))
    dc, ac = factors[0], factors[1:]
    result = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for factor in ac for v in factor)
        quantised_max = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
        result += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        result += _base83(0, 1)
    result += _base83((_to_srgb_byte(dc[0]) << 16) + (_to_srgb_byte(dc[1]) << 8) + _to_srgb_byte(dc[2]), 4)
    for factor in ac:
        quant = [int(max(0, min(18, math.floor(math.copysign(abs(v / maximum) ** 0.5, v) * 9 + 9.5))))
                 for v in factor]
        result += _base83(quant[0] * 19 * 19 + quant[1] * 19 + quant[2], 2)
    return result
