"""ThumbHash decoding (https://evanw.github.io/thumbhash/), drawn as the small PNG `data:` URL
pages paint under an image until it loads.

Plain Python, no numpy and no libvips: the server draws these, and it holds no pixel library
(those live in the render processes). A 32 px picture costs about 1.3 ms CPU to decode and
write, once per hash (memoised), against 0.85 ms with numpy and libvips; the pixels are the
same bytes (the tests compare digests of the reference JavaScript decoder's output).
"""

from __future__ import annotations

import base64
import functools
import math
import struct
import zlib


def js_round(value: float) -> int:
    """JavaScript's `Math.round` (half up), as the reference rounds; the encoder uses it too."""
    return math.floor(value + 0.5)


@functools.cache
def triangle(nx: int, ny: int) -> tuple[tuple[int, int], ...]:
    """(cy, cx) of the coefficients kept, cx * ny < nx * (ny - cy), in the reference's order:
    the one rule the encoder writes by and this decoder reads by."""
    return tuple((cy, cx) for cy in range(ny) for cx in range(nx) if cx * ny < nx * (ny - cy))


@functools.cache
def cosines(n: int, size: int) -> tuple[tuple[float, ...], ...]:
    """The first `n` DCT basis functions sampled at `size` pixel centres: the encoder projects
    onto them, this decoder sums them."""
    return tuple(
        tuple(math.cos(math.pi / size * k * (i + 0.5)) for i in range(size)) for k in range(n)
    )


def decode(hash_bytes: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGBA bytes) of the picture a ThumbHash stands for, 32 px on its long side
    (the reference decoder's size); ValueError when the bytes are too short to be one."""
    if len(hash_bytes) < 5:
        raise ValueError("a ThumbHash has at least 5 bytes")
    header24 = hash_bytes[0] | hash_bytes[1] << 8 | hash_bytes[2] << 16
    header16 = hash_bytes[3] | hash_bytes[4] << 8
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    has_alpha = bool(header24 >> 23)
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    landscape = bool(header16 >> 15)
    l_max = 5 if has_alpha else 7
    lx = max(3, l_max if landscape else header16 & 7)
    ly = max(3, header16 & 7 if landscape else l_max)
    a_dc, a_scale = 1.0, 1.0
    start = 5
    if has_alpha:
        if len(hash_bytes) < 6:
            raise ValueError("the ThumbHash is truncated")
        a_dc, a_scale = (hash_bytes[5] & 15) / 15, (hash_bytes[5] >> 4) / 15
        start = 6
    nibbles = [n for byte in hash_bytes[start:] for n in (byte & 15, byte >> 4)]
    shapes = [(lx, ly, l_scale), (3, 3, p_scale * 1.25), (3, 3, q_scale * 1.25)]
    if has_alpha:
        shapes.append((5, 5, a_scale))
    if len(nibbles) < sum(len(triangle(nx, ny)) - 1 for nx, ny, _ in shapes):
        raise ValueError("the ThumbHash is truncated")

    ratio = (l_max if landscape else header16 & 7) / max(1, header16 & 7 if landscape else l_max)
    w, h = (32, js_round(32 / ratio)) if ratio > 1 else (js_round(32 * ratio), 32)
    w, h = max(1, w), max(1, h)

    channels = []
    position = 0
    for (nx, ny, scale), dc in zip(shapes, (l_dc, p_dc, q_dc, a_dc), strict=False):
        cells = triangle(nx, ny)[1:]
        # each AC term counts twice, as in the reference decoder
        grid = [[0.0] * nx for _ in range(ny)]
        for (cy, cx), nibble in zip(cells, nibbles[position:], strict=False):
            grid[cy][cx] = 2 * (nibble / 7.5 - 1) * scale
        position += len(cells)
        across, down = cosines(nx, w), cosines(ny, h)
        # separable: each row of coefficients summed along x once, then the rows along y
        rows = [
            [sum(g * c[x] for g, c in zip(grid[cy], across, strict=True)) for x in range(w)]
            for cy in range(ny)
        ]
        channels.append(
            [
                [dc + sum(down[cy][y] * rows[cy][x] for cy in range(ny)) for x in range(w)]
                for y in range(h)
            ]
        )
    lum, p, q = channels[:3]
    alpha = channels[3] if has_alpha else None
    pixels = bytearray()
    for y in range(h):
        for x in range(w):
            b = lum[y][x] - 2 / 3 * p[y][x]
            r = (3 * lum[y][x] - b + q[y][x]) / 2
            g = r - q[y][x]
            a = alpha[y][x] if alpha is not None else 1.0
            pixels += bytes(int(min(1.0, max(0.0, v)) * 255) for v in (r, g, b, a))
    return w, h, bytes(pixels)


def png(width: int, height: int, rgba: bytes) -> bytes:
    """An 8-bit RGBA PNG of these pixels."""
    rows = b"".join(b"\0" + rgba[y * width * 4 : (y + 1) * width * 4] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows, 9))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


@functools.lru_cache(maxsize=4096)
def data_url(thumbhash_b64: str) -> str:
    """The ThumbHash drawn as a small PNG `data:` URL, for pages to show without script."""
    drawn = png(*decode(base64.b64decode(thumbhash_b64)))
    return "data:image/png;base64," + base64.b64encode(drawn).decode()
