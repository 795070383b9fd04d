"""The docs' sample picture, drawn with libvips (in a render process: `imgpro.media.jobs`)."""

from __future__ import annotations

from pathlib import Path

import pyvips

WIDTH, HEIGHT = 1200, 800


def draw(path: Path) -> None:
    """A harbour at dusk: a sky gradient, a sun, a striped sea (stripes make blur and sharpen
    visible; the off-centre sun makes crops and gravity visible)."""
    xyz = pyvips.Image.xyz(WIDTH, HEIGHT)
    x, y = xyz[0], xyz[1]
    t = y / HEIGHT
    top, bottom = (30, 58, 138), (249, 115, 22)
    red, green, blue = (t * (bottom[i] - top[i]) + top[i] for i in range(3))
    sky = red.bandjoin([green, blue])
    sun_distance = ((x - 820) ** 2 + (y - 430) ** 2) ** 0.5
    sun = (sun_distance < 120).ifthenelse([253, 224, 71], sky)
    waves = ((y * 20).sin() * 18 + 40).cast("uchar")  # vips works in degrees
    sea = waves.bandjoin([waves + 50, waves + 90])
    picture = (y > 520).ifthenelse(sea, sun).cast("uchar")
    picture.copy(interpretation="srgb").jpegsave(str(path), Q=88)
