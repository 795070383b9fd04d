"""ThumbHash encoding (https://evanw.github.io/thumbhash/): a ~25-byte placeholder of an image.

Pixels in, bytes out; no I/O. Plain Python, no numpy: ingest runs in the render processes, and
numpy would be 14 MB of each for the 32 px picture a placeholder is made from (1-2 ms to encode).
The reference's loops are taken apart by axis (each row against the horizontal cosines, then
those sums against the vertical ones); its rounding is JavaScript's `Math.round` (half up), and
the tests compare against hashes the reference JavaScript package computed. Decoding is in
`imgpro.media.thumbhash_draw`.
"""

from __future__ import annotations

from operator import mul

from imgpro.media.thumbhash_draw import cosines, js_round, triangle

MAX_SIDE = 100  # the reference refuses larger inputs: they cost more and change nothing


def _encode_channel(
    channel: list[float], width: int, height: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC term, AC terms (normalised to 0..1) and their scale, from the DCT coefficients."""
    rows = [channel[y * width : (y + 1) * width] for y in range(height)]
    across = [[sum(map(mul, row, fx)) for row in rows] for fx in cosines(nx, width)]
    down = cosines(ny, height)
    kept = [sum(map(mul, across[cx], down[cy])) / (width * height) for cy, cx in triangle(nx, ny)]
    ac = kept[1:]
    scale = max(map(abs, ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * value for value in ac]
    return kept[0], ac, scale


def encode(width: int, height: int, rgba: bytes) -> bytes:
    """The ThumbHash of width×height RGBA pixels (not premultiplied), at most 100 px a side."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or len(rgba) != width * height * 4:
        raise ValueError(f"need RGBA of at most {MAX_SIDE}x{MAX_SIDE}, got {len(rgba)} bytes")
    red, green, blue = rgba[0::4], rgba[1::4], rgba[2::4]
    alpha = [value / 255 for value in rgba[3::4]]
    total_alpha = sum(alpha)
    average = [sum(map(mul, alpha, channel)) / 255 for channel in (red, green, blue)]
    if total_alpha:
        average = [value / total_alpha for value in average]
    has_alpha = total_alpha < width * height
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes the room
    lx = max(1, js_round(l_limit * width / max(width, height)))
    ly = max(1, js_round(l_limit * height / max(width, height)))

    # composite atop the average colour, then to luminance, yellow-blue, red-green
    r, g, b = (
        [mean * (1 - a) + a / 255 * value for a, value in zip(alpha, channel, strict=True)]
        for mean, channel in zip(average, (red, green, blue), strict=True)
    )
    size = (width, height)
    luminance = [(rv + gv + bv) / 3 for rv, gv, bv in zip(r, g, b, strict=True)]
    yellow_blue = [(rv + gv) / 2 - bv for rv, gv, bv in zip(r, g, b, strict=True)]
    red_green = [rv - gv for rv, gv in zip(r, g, strict=True)]
    l_dc, l_ac, l_scale = _encode_channel(luminance, *size, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, *size, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(red_green, *size, 3, 3)
    a_dc, a_ac, a_scale = _encode_channel(alpha, *size, 5, 5) if has_alpha else (1.0, [], 1.0)

    landscape = width > height
    header24 = (
        js_round(63 * l_dc)
        | (js_round(31.5 + 31.5 * p_dc) << 6)
        | (js_round(31.5 + 31.5 * q_dc) << 12)
        | (js_round(31 * l_scale) << 18)
        | (1 << 23 if has_alpha else 0)
    )
    header16 = (
        (ly if landscape else lx)
        | (js_round(63 * p_scale) << 3)
        | (js_round(63 * q_scale) << 9)
        | (1 << 15 if landscape else 0)
    )
    out = bytearray(
        [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    )
    if has_alpha:
        out.append(js_round(15 * a_dc) | (js_round(15 * a_scale) << 4))
    nibbles = [js_round(15 * value) for value in (*l_ac, *p_ac, *q_ac, *a_ac)]
    if len(nibbles) % 2:
        nibbles.append(0)
    out += bytes(low | high << 4 for low, high in zip(nibbles[0::2], nibbles[1::2], strict=True))
    return bytes(out)
