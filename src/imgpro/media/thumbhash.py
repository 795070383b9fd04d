"""ThumbHash encoding (https://evanw.github.io/thumbhash/): a ~25-byte placeholder of an image.

Pixels in, bytes out; no I/O. A vectorised port of the reference encoder (its loops become
cosine matrices, so a 100×100 image encodes in well under a millisecond); its rounding is
JavaScript's `Math.round` (half up), and the tests compare against hashes the reference
JavaScript package computed. Decoding, which the server does to draw pages, is plain Python in
`imgpro.media.thumbhash_draw`: the server imports no numpy.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from imgpro.media.thumbhash_draw import js_round, triangle

MAX_SIDE = 100  # the reference refuses larger inputs: they cost more and change nothing


@functools.cache
def _triangle(nx: int, ny: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """`thumbhash_draw.triangle` as index arrays (rows, columns)."""
    cells = triangle(nx, ny)
    return np.array([c[0] for c in cells]), np.array([c[1] for c in cells])


@functools.cache
def _cosines(n: int, size: int) -> npt.NDArray[np.float64]:
    return np.cos(np.pi / size * np.outer(np.arange(n), np.arange(size) + 0.5))


def _encode_channel(
    channel: npt.NDArray[np.float64], nx: int, ny: int
) -> tuple[float, npt.NDArray[np.float64], float]:
    """DC term, AC terms (normalised to 0..1) and their scale, from the DCT coefficients."""
    h, w = channel.shape
    coefficients = _cosines(ny, h) @ channel @ _cosines(nx, w).T / (w * h)
    rows, columns = _triangle(nx, ny)
    kept = coefficients[rows, columns]
    ac = kept[1:]
    scale = float(np.abs(ac).max()) if len(ac) else 0.0
    if scale:
        ac = 0.5 + 0.5 / scale * ac
    return float(kept[0]), ac, scale


def encode(rgba: npt.NDArray[np.uint8]) -> bytes:
    """The ThumbHash of an (h, w, 4) RGBA image (not premultiplied), at most 100 px a side."""
    h, w = rgba.shape[:2]
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or rgba.shape[2:] != (4,):
        raise ValueError(f"need RGBA of at most {MAX_SIDE}x{MAX_SIDE}, got {rgba.shape}")
    # one contiguous row per channel: broadcasting over the interleaved layout is 20x slower
    red, green, blue, alpha = rgba.reshape(-1, 4).T.astype(np.float64)
    alpha /= 255
    total_alpha = float(alpha.sum())
    average = [float(alpha @ channel) / 255 for channel in (red, green, blue)]
    if total_alpha:
        average = [value / total_alpha for value in average]
    has_alpha = total_alpha < w * h
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes the room
    lx = max(1, js_round(l_limit * w / max(w, h)))
    ly = max(1, js_round(l_limit * h / max(w, h)))

    # composite atop the average colour, then to luminance, yellow-blue, red-green
    r, g, b = (
        (mean * (1 - alpha) + alpha / 255 * channel).reshape(h, w)
        for mean, channel in zip(average, (red, green, blue), strict=True)
    )
    l_dc, l_ac, l_scale = _encode_channel((r + g + b) / 3, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(r - g, 3, 3)
    a_dc, a_ac, a_scale = (
        _encode_channel(alpha.reshape(h, w), 5, 5) if has_alpha else (1.0, np.empty(0), 1.0)
    )

    landscape = w > h
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
    nibbles = np.floor(15 * np.concatenate([l_ac, p_ac, q_ac, a_ac]) + 0.5).astype(np.uint8)
    if len(nibbles) % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    out += (nibbles[0::2] | nibbles[1::2] << 4).tobytes()
    return bytes(out)
