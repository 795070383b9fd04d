"""Output geometry of a render: how big the image becomes, what is cut, what is padded.

Pure arithmetic on sizes (no pixels), plus the two pixel steps that only move pixels around
(`orient`, `place_crop`: they call the image they are handed, so this module imports no pixel
library and the server can tell whether a variant fits a working copy). Every output is capped
to `max_side` a side and `max_pixels` in total by scaling the requested box down, so no query
can ask libvips for an unbounded canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgpro.media.transform import TransformSpec, named_size

if TYPE_CHECKING:
    import pyvips

#: libvips' names for where `pad` places the picture on its canvas.
PAD_DIRECTIONS = {
    "center": "centre",
    "auto": "centre",
    "north": "north",
    "south": "south",
    "east": "east",
    "west": "west",
    "northeast": "north-east",
    "northwest": "north-west",
    "southeast": "south-east",
    "southwest": "south-west",
}


@dataclass(frozen=True)
class Plan:
    scaled: tuple[int, int]  # the whole image after resizing (output orientation)
    crop: tuple[int, int] | None = None  # then cut to this, placed by gravity
    canvas: tuple[int, int] | None = None  # then padded to this

    @property
    def output(self) -> tuple[int, int]:
        return self.canvas or self.crop or self.scaled


def capped(width: int, height: int, max_side: int, max_pixels: int) -> tuple[int, int]:
    """width×height scaled down (aspect kept) until it fits both output limits."""
    factor = min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))
    if factor >= 1.0:
        return width, height
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def plan(source_w: int, source_h: int, spec: TransformSpec, max_side: int, max_pixels: int) -> Plan:
    """Output geometry for a source of source_w×source_h (already rotated by spec.rotate)."""

    def scaled_by(scale: float) -> tuple[int, int]:
        return max(1, round(source_w * scale)), max(1, round(source_h * scale))

    fit = spec.fit_or_default
    if spec.size is not None:
        size = named_size(source_w, source_h, spec.size)
        return Plan(capped(*size, max_side, max_pixels))
    if spec.w is None and spec.h is None:
        return Plan(capped(source_w, source_h, max_side, max_pixels))
    if spec.w is None or spec.h is None:  # one side: the other follows the aspect
        scale = spec.w / source_w if spec.w else spec.h / source_h  # type: ignore[operator]
        if fit == "scale-down":
            scale = min(scale, 1.0)
        return Plan(capped(*scaled_by(scale), max_side, max_pixels))
    box_w, box_h = capped(spec.w, spec.h, max_side, max_pixels)
    if fit in ("scale-down", "contain", "pad"):
        scale = min(box_w / source_w, box_h / source_h)
        if fit == "scale-down":
            scale = min(scale, 1.0)
        width, height = scaled_by(scale)
        scaled = (min(width, box_w), min(height, box_h))
        return Plan(scaled, canvas=(box_w, box_h) if fit == "pad" else None)
    scale = max(box_w / source_w, box_h / source_h)  # cover, crop
    if fit == "crop":
        scale = min(scale, 1.0)
    width, height = scaled_by(scale)
    if fit == "cover":
        width, height = max(width, box_w), max(height, box_h)
    crop = (min(box_w, width), min(box_h, height))
    return Plan((width, height), crop=None if crop == (width, height) else crop)


def kept_before_upscale(geometry: Plan, width: int, height: int) -> tuple[int, int]:
    """The part of a width×height image that an enlarging crop keeps, in its own pixels: cut
    first, then enlarge only what is kept."""
    assert geometry.crop is not None
    kept_w = math.ceil(geometry.crop[0] * width / geometry.scaled[0])
    kept_h = math.ceil(geometry.crop[1] * height / geometry.scaled[1])
    return min(width, kept_w), min(height, kept_h)


@dataclass(frozen=True)
class Limits:
    pixels: int  # source, one frame (all frames for an animation that stays animated)
    side: int  # output, a side
    output_pixels: int  # output, frames counted


@dataclass(frozen=True)
class Layout:
    geometry: Plan
    load: tuple[int, int]  # what the source is resized to first (source orientation)
    upscale_crop: bool


def layout(width: int, height: int, frames: int, spec: TransformSpec, limits: Limits) -> Layout:
    """Where a width×height source (display orientation) goes for `spec`."""
    quarter_turn = spec.rotate in (90, 270)
    source_w, source_h = (height, width) if quarter_turn else (width, height)
    max_pixels = max(1, limits.output_pixels // frames)
    geometry = plan(source_w, source_h, spec, limits.side, max_pixels)
    upscale_crop = geometry.crop is not None and (
        geometry.scaled[0] * geometry.scaled[1] > source_w * source_h
    )
    load_w, load_h = (source_w, source_h) if upscale_crop else geometry.scaled
    if quarter_turn:
        load_w, load_h = load_h, load_w
    return Layout(geometry, (load_w, load_h), upscale_crop)


def fits_working_copy(
    original: tuple[int, int],
    copy: tuple[int, int],
    spec: TransformSpec,
    *,
    max_output_side: int = 8192,
    max_output_pixels: int = 40_000_000,
) -> bool:
    """Whether a still variant needs no more pixels than a working copy of size `copy` has."""
    limits = Limits(0, max_output_side, max_output_pixels)
    load_w, load_h = layout(*original, 1, spec, limits).load
    return load_w <= copy[0] and load_h <= copy[1]


def orient(image: pyvips.Image, spec: TransformSpec) -> pyvips.Image:
    """`rotate` (clockwise), then `flip`."""
    if spec.rotate == 90:
        image = image.rot90()
    elif spec.rotate == 180:
        image = image.rot180()
    elif spec.rotate == 270:
        image = image.rot270()
    if spec.flip in ("h", "hv"):
        image = image.fliphor()
    if spec.flip in ("v", "hv"):
        image = image.flipver()
    return image


def place_crop(image: pyvips.Image, width: int, height: int, gravity: str) -> pyvips.Image:
    """Cut width×height out of `image`, anchored by a compass gravity (not `auto`)."""
    fx = 0.0 if "west" in gravity else 1.0 if "east" in gravity else 0.5
    fy = 0.0 if "north" in gravity else 1.0 if "south" in gravity else 0.5
    left = round((image.width - width) * fx)
    top = round((image.height - height) * fy)
    return image.extract_area(left, top, width, height)
