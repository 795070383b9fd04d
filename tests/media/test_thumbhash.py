"""ThumbHash against the reference: hashes and decoded pictures that evanw's `thumbhash` npm
package (0.1.1) computed for the same deterministic pixels."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from imgpro.media import thumbhash, thumbhash_draw

Pixel = Callable[[int, int], list[int]]


def image(width: int, height: int, pixel: Pixel) -> np.ndarray:
    return np.array([[pixel(x, y) for x in range(width)] for y in range(height)], np.uint8).reshape(
        height, width, 4
    )


def circle(x: int, y: int) -> list[int]:
    distance = (x - 30) ** 2 + (y - 35) ** 2
    return [250, 80 + x, 20 + y, 255 if distance < 400 else 128 if distance < 700 else 0]


def lcg(seed: int) -> Iterator[int]:
    """The C library's rand(): the reference vectors' noise came from the same sequence."""
    state = seed
    while True:
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        yield (state >> 16) & 255


def noise(seed: int) -> np.ndarray:
    width, height, values = 100 - seed, 50 + seed, lcg(seed)
    return np.array([next(values) for _ in range(width * height * 4)], np.uint8).reshape(
        height, width, 4
    )


REFERENCE = {
    "gradient": (
        lambda: image(100, 75, lambda x, y: [x * 255 // 99, y * 255 // 74, (x * y) % 256, 255]),
        "HwgKLZpwdndwd3d3d2d3d5CACfh3",
        (32, 23, "56e7e744b334dacf"),
    ),
    "portrait": (
        lambda: image(
            40, 100, lambda x, y: [(x * 7 + y * 3) % 256, 200 - y, (x * x + y * 5) % 256, 255]
        ),
        "YdgFGwpWn2ICJ3aJZr9nBmk=",
        (14, 32, "8cf33d03d5dd1186"),
    ),
    "alpha circle": (
        lambda: image(64, 64, circle),
        "4huDDQI2YI6AfMvWd3Sf9ImGCWd1iXCKaA==",
        (32, 32, "6ba49e64bc64ad74"),
    ),
    "one pixel": (
        lambda: image(1, 1, lambda x, y: [12, 34, 56, 255]),
        "yNYRRwoI9wiIh4hwj3CI+AiIcH/494cP",
        (32, 32, "4c9a7983ee293742"),
    ),
    "transparent": (
        lambda: image(8, 8, lambda x, y: [0, 0, 0, 0]),
        "AAiCBQAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        (32, 32, "e04c5a3b8fdb00c5"),
    ),
    "noise 1": (lambda: noise(1), "4AeCA4AHoZ/LcUjVm+D7m3uaeYVgBHU=", None),
    "noise 7": (lambda: noise(7), "4PeBA4AIigmDdnn+ZDnyqWkBlDzWtkQ=", None),
    "noise 42": (lambda: noise(42), "3/eBAwAHn4YqKm2HA/JryKB9h2trZDc=", None),
}


@pytest.mark.parametrize("name", REFERENCE)
def test_encoding_matches_the_reference(name: str) -> None:
    make, expected, _decoded = REFERENCE[name]
    pixels = make()
    height, width = pixels.shape[:2]
    hashed = thumbhash.encode(width, height, pixels.tobytes())
    assert base64.b64encode(hashed).decode() == expected


@pytest.mark.parametrize("name", [name for name, case in REFERENCE.items() if case[2]])
def test_decoding_matches_the_reference(name: str) -> None:
    _make, hashed, decoded = REFERENCE[name]
    assert decoded is not None
    width, height, digest = decoded
    drawn_width, drawn_height, rgba = thumbhash_draw.decode(base64.b64decode(hashed))
    assert (drawn_width, drawn_height) == (width, height)
    assert hashlib.sha256(rgba).hexdigest()[:16] == digest


def test_inputs_it_cannot_take_are_refused() -> None:
    with pytest.raises(ValueError):
        thumbhash.encode(101, 10, bytes(101 * 10 * 4))
    with pytest.raises(ValueError):
        thumbhash.encode(10, 10, bytes(10 * 10 * 3))
    with pytest.raises(ValueError):
        thumbhash_draw.decode(b"\x00\x01")
    with pytest.raises(ValueError):
        thumbhash_draw.decode(base64.b64decode("HwgKLZpwdndwd3d3d2d3d5CACfh3")[:8])
