"""Placeholders made at ingest (decisions.md §8): from the stored pixels of every raster format,
oriented, first frame of animations, none for SVG."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from imgpro.media import placeholder, thumbhash_draw
from imgpro.media.ingest import ingest
from imgpro.media.ingested import Placeholder
from tests.factories import images

MB = 1024 * 1024


def ingested(tmp_path: Path, data: bytes) -> Placeholder | None:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    return ingest(source, workdir=tmp_path / "work", max_bytes=70 * MB).placeholder


def solid(mode: str, colour: tuple[int, ...], fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt)
    return buffer.getvalue()


def aspect(found: Placeholder) -> float:
    width, height, _pixels = thumbhash_draw.decode(base64.b64decode(found.thumbhash))
    return width / height


@pytest.mark.parametrize(
    "data",
    [
        images.jpeg(300, 200),
        images.cmyk_jpeg(),
        images.icc_jpeg(),
        images.png(alpha=True),
        images.gif(),
        images.webp(alpha=True),
        images.avif(),
        images.heic(),
        images.bmp(),
        images.ico(),
    ],
    ids=["jpeg", "cmyk", "icc", "png", "gif", "webp", "avif", "heic", "bmp", "ico"],
)
def test_every_raster_format_gets_a_placeholder(tmp_path: Path, data: bytes) -> None:
    found = ingested(tmp_path, data)
    assert found is not None
    assert len(base64.b64decode(found.thumbhash)) >= 5
    assert found.color.startswith("#") and len(found.color) == 7


def test_svg_has_none(tmp_path: Path) -> None:
    assert ingested(tmp_path, images.svg()) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (solid("RGB", (200, 30, 40), "JPEG"), (200, 30, 40)),
        (solid("L", (90,), "PNG"), (90, 90, 90)),
        (solid("RGBA", (20, 180, 60, 255), "PNG"), (20, 180, 60)),
        (solid("RGB", (10, 20, 230), "BMP"), (10, 20, 230)),
    ],
)
def test_the_colour_is_the_image_s(tmp_path: Path, data: bytes, expected: tuple[int, ...]) -> None:
    found = ingested(tmp_path, data)
    assert found is not None
    colour = tuple(int(found.color[i : i + 2], 16) for i in (1, 3, 5))
    assert max(abs(a - b) for a, b in zip(colour, expected, strict=True)) <= 4


def test_the_dominant_colour_is_the_most_common_one_not_the_mean() -> None:
    # 70 % near-white, 30 % black: the mean would be grey
    rgba = bytes([240, 240, 240, 255] * 70 + [0, 0, 0, 255] * 30)
    assert placeholder.dominant_color(rgba) == "#f0f0f0"


def test_invisible_pixels_do_not_count() -> None:
    rgba = bytes([255, 0, 0, 255] * 20 + [0, 0, 0, 0] * 80)  # the only visible pixels: red
    assert placeholder.dominant_color(rgba) == "#ff0000"


def test_it_follows_the_exif_orientation(tmp_path: Path) -> None:
    found = ingested(tmp_path, images.jpeg(300, 100, orientation=6))  # stored 100 × 300
    assert found is not None
    assert aspect(found) < 1


def test_animations_use_their_first_frame(tmp_path: Path) -> None:
    found = ingested(tmp_path, images.webp(60, 40, frames=3))
    assert found is not None
    assert aspect(found) > 1  # a strip of three frames would be tall


def test_the_data_url_is_a_small_png_of_the_right_shape() -> None:
    url = thumbhash_draw.data_url("HwgKLZpwdndwd3d3d2d3d5CACfh3")
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as png:
        assert png.size == (32, 23)
