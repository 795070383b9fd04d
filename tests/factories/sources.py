"""Stored sources the media engine needs beyond `tests.factories.images`: JPEGs that *display*
upright under every EXIF orientation, an alpha PNG with known fully transparent pixels, a grey
JPEG, garbage behind JPEG magic and a photo with a known subject mask (cutout).

Everything else (jpeg, png, gif, webp, avif, heic, png_bomb, truncated_jpeg, cmyk_jpeg) comes
from `tests.factories.images`."""

from __future__ import annotations

import io

import numpy as np
import pyvips
from PIL import Image

from tests.factories.images import picture

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


def oriented_jpeg(width: int = 400, height: int = 300, *, orientation: int = 1) -> bytes:
    """`images.picture` (red top-left corner) stored so that it *displays* as width×height after
    `orientation`; the Exif block also names a camera, which no render may keep."""
    shown = picture(width, height)
    stored = shown.transpose(_STORE_AS[orientation]) if orientation != 1 else shown
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "imgpro-test-camera"
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def half_transparent_png(width: int = 300, height: int = 200) -> bytes:
    """An RGBA PNG whose left half is opaque and right half fully transparent."""
    pixels = np.asarray(picture(width, height)).copy()
    coverage = np.zeros((height, width, 1), dtype=np.uint8)
    coverage[:, : width // 2] = 255
    image = pyvips.Image.new_from_array(np.concatenate([pixels, coverage], -1))
    return image.copy(interpretation="srgb").pngsave_buffer()


def grey_jpeg(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    picture(width, height).convert("L").save(out, "JPEG")
    return out.getvalue()


def corrupt_jpeg() -> bytes:
    """JPEG magic, then garbage."""
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


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
