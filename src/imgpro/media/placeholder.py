"""Image placeholders (decisions.md §8): a ThumbHash and the dominant colour of the stored pixels,
for galleries to show until the image loads.

Both come from a box-filtered thumbnail of at most 32 px a side (JPEGs shrunk on load first).
At upload that thumbnail is a by-product of the decode ingest does anyway (see
`imgpro.media.ingest`), so a placeholder costs about a millisecond; :func:`of_file` makes the same
one from a stored file (animations: their first frame), for the paths without such a decode and
for the backfill. Plain Python on the thumbnail's bytes, no numpy (14 MB of every render
process that checks an upload).
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pyvips
from PIL import Image

from imgpro.media import thumbhash
from imgpro.media.ingested import Placeholder

#: Long side of the thumbnail both are made from. A ThumbHash keeps at most 7 cosines a side,
#: which 32 samples resolve: the encoder's 100 px limit costs a millisecond more per upload
#: for the same placeholder.
SIDE = 32


def of_rgba(width: int, height: int, rgba: bytes) -> Placeholder:
    """From width×height RGBA pixels of at most 100 px a side (the encoder's limit)."""
    hashed = thumbhash.encode(width, height, rgba)
    return Placeholder(base64.b64encode(hashed).decode(), dominant_color(rgba))


def dominant_color(rgba: bytes) -> str:
    """The mean of the most common colour cell (4 bits a channel) among the visible pixels;
    the mean of all pixels when none is visible."""
    pixels = list(zip(rgba[0::4], rgba[1::4], rgba[2::4], rgba[3::4], strict=True))
    visible = [pixel[:3] for pixel in pixels if pixel[3] >= 128] or [p[:3] for p in pixels]

    def cell(pixel: tuple[int, ...]) -> int:
        return (pixel[0] >> 4) << 8 | (pixel[1] >> 4) << 4 | pixel[2] >> 4

    counts = Counter(map(cell, visible))
    top = min(counts, key=lambda found: (-counts[found], found))  # ties: the lowest cell
    members = [pixel for pixel in visible if cell(pixel) == top]
    red, green, blue = (
        round(sum(channel) / len(members)) for channel in zip(*members, strict=True)
    )
    return f"#{red:02x}{green:02x}{blue:02x}"


def jpeg_shrink(width: int, height: int) -> int:
    """The largest JPEG shrink-on-load factor that still leaves SIDE px on the long side."""
    return next(f for f in (8, 4, 2, 1) if f == 1 or max(width, height) // f >= SIDE)


def of_decoded(image: pyvips.Image) -> Placeholder:
    """From a (lazily) decoded image: a box shrink to at most SIDE px reads every pixel once,
    so when the image streams from its loader this is also a full decode."""
    factor = math.ceil(max(image.width, image.height) / SIDE)
    small = image.shrink(factor, factor, ceil=True) if factor > 1 else image
    return of_vips(small.copy_memory())


def of_vips(image: pyvips.Image) -> Placeholder:
    """From a libvips image of at most 100 px a side, any band count or depth."""
    if image.interpretation not in ("srgb", "rgb"):
        image = image.colourspace("srgb")
    elif image.format != "uchar":
        image = image.cast("uchar", shift=image.format == "ushort")
    if image.bands == 3:
        image = image.bandjoin(255)
    elif image.bands > 4:
        image = image.extract_band(0, n=4)
    data: Any = image.write_to_memory()
    return of_rgba(image.width, image.height, bytes(data))


def of_pillow(picture: Image.Image) -> Placeholder:
    small = picture.convert("RGBA")
    small.thumbnail((SIDE, SIDE))
    return of_rgba(small.width, small.height, small.tobytes())


def of_file(path: Path, fmt: str) -> Placeholder | None:
    """The placeholder of a stored file (None for SVG). CPU work: run it off the event loop."""
    if fmt == "svg":
        return None
    if fmt in ("bmp", "ico"):  # the libvips wheel has no decoder for them
        with Image.open(path) as picture:
            return of_pillow(picture)
    # a Source, not a filename: libvips would parse "[options]" out of a path
    options: dict[str, Any] = {"access": "sequential"}
    if fmt == "jpg":
        header = pyvips.Image.new_from_source(pyvips.Source.new_from_file(str(path)), "")
        options["shrink"] = jpeg_shrink(header.width, header.height)
    source = pyvips.Source.new_from_file(str(path))
    return of_decoded(pyvips.Image.new_from_source(source, "", **options))
