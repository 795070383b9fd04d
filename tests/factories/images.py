"""Image files for tests, made at test time (no binary fixtures in the repository).

Every function returns the file's bytes. Pictures have a gradient, noise and a few shapes, so they
compress like photos rather than like flat colour. Names are imported by API, CDN and media tests:
keep them stable.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
import pillow_heif
import pyvips
from PIL import Image, ImageDraw

pillow_heif.register_heif_opener()

ORIENTATION = 0x0112
MAKE = 0x010F
MODEL = 0x0110


def picture(
    width: int = 64, height: int = 48, *, alpha: bool = False, seed: int = 0
) -> Image.Image:
    """An RGB(A) picture: diagonal gradient, mild noise, a disc and a bar; red marks the top left.

    The red square in the top-left corner (an eighth of each side) lets tests see orientation.
    """
    y, x = np.mgrid[0:height, 0:width]
    red = x * 255 // max(1, width - 1)
    green = y * 255 // max(1, height - 1)
    blue = (x + y + seed * 37) * 255 // max(1, width + height - 2)
    noise = np.random.default_rng(seed).integers(0, 24, (height, width, 3))
    pixels = np.stack([red, green, blue], axis=-1) * 0.8 + noise
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 3, height // 4, width * 3 // 4, height * 3 // 4), fill=(20, 40, 160))
    draw.rectangle((0, height * 5 // 6, width, height), fill=(240, 220, 40))
    draw.rectangle((0, 0, max(1, width // 8), max(1, height // 8)), fill=(255, 0, 0))
    if alpha:
        mask = Image.linear_gradient("L").resize((width, height)).point(lambda v: 64 + v * 3 // 4)
        image.putalpha(mask)
    return image


def _save(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _exif(orientation: int | None, camera: bool) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if camera:
        exif[MAKE] = "imgpro-test-camera"
        exif[MODEL] = "Model 1"
    return exif.tobytes()


def jpeg(
    width: int = 64,
    height: int = 48,
    *,
    orientation: int | None = None,
    exif: bool = False,
    quality: int = 85,
) -> bytes:
    """A baseline JPEG; ``orientation`` and/or ``exif`` (camera make, model) add an Exif block."""
    options: dict[str, object] = {"quality": quality}
    if orientation is not None or exif:
        options["exif"] = _exif(orientation, exif)
    return _save(picture(width, height), "JPEG", **options)


def cmyk_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A CMYK JPEG (Adobe APP14 marker, no ICC profile), as print workflows produce."""
    return _save(picture(width, height).convert("CMYK"), "JPEG", quality=90)


def icc_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A JPEG in Display P3, tagged with that ICC profile (libvips' built-in one)."""
    image = pyvips.Image.new_from_buffer(jpeg(width, height), "")
    tagged = image.icc_transform("p3")
    return tagged.jpegsave_buffer(Q=90, keep="icc")


def png(
    width: int = 64,
    height: int = 48,
    *,
    alpha: bool = False,
    sixteen_bit: bool = False,
    grey: bool = False,
) -> bytes:
    """A PNG without metadata chunks; ``sixteen_bit`` scales the 8-bit picture to 16 bits."""
    source = picture(width, height, alpha=alpha)
    if grey:
        source = source.convert("LA" if alpha else "L")
    pixels = np.asarray(source)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    bands = pixels.shape[2]
    if sixteen_bit:
        wide = pixels.astype(np.uint16) * 257
        image = pyvips.Image.new_from_memory(wide.tobytes(), width, height, bands, "ushort")
        image = image.copy(interpretation="grey16" if grey else "rgb16")
    else:
        image = pyvips.Image.new_from_memory(pixels.tobytes(), width, height, bands, "uchar")
        image = image.copy(interpretation="b-w" if grey else "srgb")
    return image.pngsave_buffer(keep="none")


def png_with_text(width: int = 64, height: int = 48) -> bytes:
    """A PNG carrying a tEXt comment and an eXIf chunk, which ingest must strip."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "made by a test")
    return _save(picture(width, height), "PNG", pnginfo=info, exif=_exif(None, True))


def gif(width: int = 64, height: int = 48, frames: int = 1) -> bytes:
    """A GIF; with ``frames`` > 1 an endlessly looping animation of visibly different frames."""
    images = [picture(width, height, seed=i).quantize(64) for i in range(frames)]
    if frames == 1:
        return _save(images[0], "GIF")
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)


def webp(
    width: int = 64, height: int = 48, *, frames: int = 1, alpha: bool = False, exif: bool = False
) -> bytes:
    """A lossy WebP; with ``frames`` > 1 an animated one; ``exif`` adds an EXIF chunk (camera
    make), which ingest must strip."""
    images = [picture(width, height, alpha=alpha, seed=i) for i in range(frames)]
    options: dict[str, object] = {"quality": 80}
    if exif:
        options["exif"] = _exif(None, True)
    if frames > 1:
        options.update(save_all=True, append_images=images[1:], duration=80, loop=0)
    return _save(images[0], "WEBP", **options)


def avif(width: int = 64, height: int = 48, *, exif: bool = False) -> bytes:
    """An 8-bit AVIF still made by libvips (AV1); ``exif`` leaves libvips' Exif item in."""
    image = pyvips.Image.new_from_memory(
        np.asarray(picture(width, height)).tobytes(), width, height, 3, "uchar"
    )
    return image.heifsave_buffer(Q=60, compression="av1", keep="exif" if exif else "none")


def heic(width: int = 64, height: int = 48, *, orientation: int | None = None) -> bytes:
    """A HEIC (HEVC) still; ``orientation`` is stored as the HEIF rotation/mirror a phone writes."""
    options: dict[str, object] = {"quality": 80}
    if orientation is not None:
        options["exif"] = _exif(orientation, True)
    return _save(picture(width, height), "HEIF", **options)


def bmp(width: int = 64, height: int = 48) -> bytes:
    """A 24-bit Windows BMP."""
    return _save(picture(width, height), "BMP")


def ico(width: int = 32, height: int = 32) -> bytes:
    """A Windows icon holding the given size and a 16×16 one."""
    sizes = sorted({(width, height), (min(16, width), min(16, height))})
    return _save(picture(width, height, alpha=True), "ICO", sizes=sizes)


def svg(width: int = 64, height: int = 48) -> bytes:
    """A plain, safe SVG with a gradient, a same-document reference and text."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="{width}" height="{height}" viewBox="0 0 {width} {height}">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#1e90ff"/><stop offset="1" stop-color="#ffd700"/>
    </linearGradient>
    <circle id="dot" r="{min(width, height) / 6:g}" fill="#c0392b"/>
  </defs>
  <rect width="{width}" height="{height}" fill="url(#sky)"/>
  <use xlink:href="#dot" x="{width / 2:g}" y="{height / 2:g}"/>
  <text x="4" y="{height - 4}" font-family="sans-serif" font-size="8">img &amp; pro</text>
</svg>
""".encode()


def tiff(width: int = 64, height: int = 48) -> bytes:
    """A TIFF (which imgpro refuses)."""
    return _save(picture(width, height), "TIFF")


def pdf() -> bytes:
    """A minimal valid one-page PDF with a filled rectangle (which imgpro refuses)."""
    content = b"0.2 0.4 0.8 rg 10 10 80 60 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 80] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@functools.lru_cache(maxsize=4)
def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A real PNG of ``width`` × ``height`` 1-bit grey pixels that is tiny on disc.

    20000 × 20000 is about 50 KB: zero rows deflate about a thousand to one. Decoding it would need
    400 megapixels; ingest must refuse it from the header.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey, no interlace
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "none", then the packed pixels
    deflate = zlib.compressobj(9)
    rows_per_block = max(1, (1 << 20) // len(row))
    blocks = []
    for start in range(0, height, rows_per_block):
        blocks.append(deflate.compress(row * min(rows_per_block, height - start)))
    blocks.append(deflate.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(blocks))
        + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """A JPEG cut off in the middle of its entropy-coded data."""
    whole = jpeg(320, 240, quality=90)
    return whole[: len(whole) * 6 // 10]


def text_as_jpg() -> bytes:
    """Plain text, as uploaded under the name ``photo.jpg`` with type ``image/jpeg``."""
    return b"This is not a photo, just a text file named photo.jpg.\n" * 20


def html() -> bytes:
    """An HTML page with a script (which imgpro refuses)."""
    return (
        b"<!DOCTYPE html>\n<html><head><title>x</title></head>"
        b"<body><script>alert(document.cookie)</script><svg></svg></body></html>\n"
    )
