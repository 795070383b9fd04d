"""Stored-source fixtures for the media engine: photo-like pixels in every stored format, with
known content (a red top-left quadrant marks orientation) and known masks (for cutout)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pyvips
from PIL import Image

# Pillow transpose that *stores* a displayed image under each EXIF orientation (the inverse of
# what a viewer applies): 2, 3, 4, 5 and 7 are their own inverse; 6 and 8 swap.
_STORE_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
RED = (220, 30, 30)


def marked_pixels(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A smooth photo-like RGB gradient with mild noise and a red top-left quadrant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack(
        [40 + 120 * x / width, 60 + 140 * y / height, 200 - 100 * (x + y) / (width + height)], -1
    )
    pixels += rng.normal(0, 4, pixels.shape)
    pixels[: height // 2, : width // 2] = RED
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg(width: int = 400, height: int = 300, *, orientation: int = 1, exif: bool = True) -> bytes:
    """A marked photo stored so that it *displays* as width×height after `orientation`."""
    shown = Image.fromarray(marked_pixels(width, height))
    stored = shown.transpose(_STORE_AS[orientation]) if orientation != 1 else shown
    info = Image.Exif()
    if exif:
        info[0x0112] = orientation
        info[0x010F] = "imgpro-test-camera"  # Make: must not survive a render
        info[0x0131] = "imgpro-test-software"
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=90, exif=info.tobytes() if exif else b"")
    return out.getvalue()


def cmyk_jpeg(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.fromarray(marked_pixels(width, height)).convert("CMYK").save(out, "JPEG", quality=90)
    return out.getvalue()


def png(
    width: int = 300,
    height: int = 200,
    *,
    alpha: bool = False,
    sixteen_bit: bool = False,
    grey: bool = False,
) -> bytes:
    """PNG; with alpha the left half is opaque and the right half fully transparent."""
    pixels = marked_pixels(width, height).astype(np.float32)
    if grey:
        pixels = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = pixels[..., np.newaxis]
    if alpha:
        coverage = np.zeros((height, width, 1), dtype=np.float32)
        coverage[:, : width // 2] = 255
        pixels = np.concatenate([pixels, coverage], -1)
    if sixteen_bit:
        image = pyvips.Image.new_from_array((pixels * 257).astype(np.uint16))
        kind = "grey16" if grey else "rgb16"
        return image.copy(interpretation=kind).pngsave_buffer(bitdepth=16)
    image = pyvips.Image.new_from_array(pixels.astype(np.uint8))
    return image.copy(interpretation="b-w" if grey else "srgb").pngsave_buffer()


def grey_jpeg(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.fromarray(marked_pixels(width, height)).convert("L").save(out, "JPEG")
    return out.getvalue()


def _frames(count: int, width: int, height: int) -> list[Image.Image]:
    base = marked_pixels(width, height)
    frames = []
    for index in range(count):
        pixels = base.copy()
        pixels[height // 2 :, width // 2 :] = (index * 37 % 256, 90, 255 - index * 37 % 256)
        frames.append(Image.fromarray(pixels))
    return frames


def gif(width: int = 120, height: int = 80, *, frames: int = 3) -> bytes:
    images = _frames(frames, width, height)
    out = io.BytesIO()
    images[0].save(
        out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0, optimize=False
    )
    return out.getvalue()


def webp(width: int = 120, height: int = 80, *, frames: int = 1, alpha: bool = False) -> bytes:
    images = _frames(frames, width, height)
    if alpha:  # the top-right quadrant is transparent (the frames differ bottom-right)
        coverage = np.full((height, width), 255, dtype=np.uint8)
        coverage[: height // 2, width // 2 :] = 0
        for image in images:
            image.putalpha(Image.fromarray(coverage))
    out = io.BytesIO()
    images[0].save(
        out,
        "WEBP",
        save_all=frames > 1,
        append_images=images[1:],
        duration=80,
        loop=0,
        quality=90,
    )
    return out.getvalue()


def avif(width: int = 160, height: int = 120) -> bytes:
    out = io.BytesIO()
    Image.fromarray(marked_pixels(width, height)).save(out, "AVIF", quality=90)
    return out.getvalue()


def heic(width: int = 160, height: int = 120) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.fromarray(marked_pixels(width, height)).save(out, "HEIF", quality=90)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG header claiming width×height pixels, with a tiny (bogus) body."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def corrupt_jpeg() -> bytes:
    """JPEG magic, then garbage."""
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def truncated_jpeg() -> bytes:
    data = jpeg(400, 300)
    return data[: len(data) // 2]


# -- cutout -------------------------------------------------------------------------------------


def product_photo(side: int = 512, seed: int = 7) -> tuple[bytes, np.ndarray]:
    """A photo-like scene and its true subject mask (bool, side×side).

    The subject is a shaded, textured vase-like solid (a sphere on a cylinder, lit from the upper
    left, with a specular highlight and surface grain); the background is not uniform: a warm
    wall-to-table gradient, blotchy low-frequency texture, sensor noise and a soft contact shadow.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side

    # background: wall above, table below, blotches and noise
    wall = np.stack([200 - 40 * y, 185 - 45 * y, 160 - 50 * y], -1)
    table = np.stack([150 - 30 * y, 110 - 25 * y, 80 - 20 * y], -1)
    scene = np.where((y > 0.72)[..., None], table, wall)
    blotches = pyvips.Image.gaussnoise(side // 16, side // 16, sigma=18, seed=seed)
    blotches = blotches.resize(16, kernel="linear").numpy()[:side, :side, np.newaxis]
    scene += blotches + rng.normal(0, 6, scene.shape)

    # subject: sphere (body) over a cylinder (neck)
    cx, cy, r = 0.5, 0.55, 0.24
    sphere = (x - cx) ** 2 + (y - cy) ** 2 <= r**2
    neck = (np.abs(x - cx) <= 0.08) & (y >= 0.18) & (y <= cy)
    subject = sphere | neck

    shadow = np.exp(-(((x - cx - 0.06) / 0.3) ** 2 + ((y - 0.8) / 0.035) ** 2))
    scene *= (1 - 0.45 * shadow)[..., None]

    nz = np.sqrt(np.clip(r**2 - (x - cx) ** 2 - (y - cy) ** 2, 0, None)) / r
    light = np.clip(0.35 + 0.65 * ((-(x - cx) - (y - cy)) / r * 0.5 + nz * 0.7), 0.15, 1.2)
    light = np.where(neck & ~sphere, 0.55 + 0.4 * (cx - x) / 0.08 * 0.5, light)
    base = np.array([40, 90, 170], dtype=np.float32)  # glazed blue
    grain = rng.normal(0, 10, scene.shape) + 12 * np.sin(60 * y)[..., None]
    body = base * light[..., None] + grain
    highlight = np.exp(-(((x - cx + 0.09) ** 2 + (y - cy + 0.1) ** 2) / 0.0015))
    body += 200 * highlight[..., None]
    scene = np.where(subject[..., None], body, scene)

    image = pyvips.Image.new_from_array(np.clip(scene, 0, 255).astype(np.uint8))
    return image.copy(interpretation="srgb").jpegsave_buffer(Q=92), subject
