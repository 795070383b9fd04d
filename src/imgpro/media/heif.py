"""pillow-heif, Pillow's HEIC decoder (the libvips wheel has no HEVC decoder): imported by the
first HEIC a render process sees, not by every render process (3 MB of each)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pyvips

if TYPE_CHECKING:
    import pillow_heif

#: libvips' interpretation of pillow-heif's 8-bit modes, by their bands
_MODES = {"L": "b-w", "LA": "b-w", "RGB": "srgb", "RGBA": "srgb"}


@functools.cache
def register() -> None:
    """Let `PIL.Image.open` read HEIC from now on (registering twice, from two threads at once,
    is harmless)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def open_file(path: Path) -> pillow_heif.HeifFile:
    """The HEIF file at `path`: its header read, its primary image decoded on first access to
    its pixels, at 8 bits."""
    import pillow_heif

    return pillow_heif.open_heif(path, convert_hdr_to_8bit=True)


def pixels(picture: pillow_heif.HeifFile) -> pyvips.Image:
    """The primary image's decoded pixels as a libvips image that shares their memory (no copy:
    Pillow's would pack 36 MB of a 12 MP photo for 30 ms). A mode libvips cannot share (16-bit
    monochrome) goes through Pillow's conversion."""
    width, height = picture.size
    if picture.mode not in _MODES:
        rgb = picture.to_pillow().convert("RGB")
        return pyvips.Image.new_from_memory(rgb.tobytes(), width, height, 3, "uchar")
    bands = len(picture.mode)
    # each row `stride` bytes, of which width × bands are pixels: a one-band image of the rows,
    # cropped to the pixels and folded back into bands
    rows = pyvips.Image.new_from_memory(picture.data, picture.stride, height, 1, "uchar")
    folded = rows.crop(0, 0, width * bands, height).bandfold(factor=bands)
    return folded.copy(interpretation=_MODES[picture.mode])
