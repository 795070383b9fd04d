"""pillow-heif, Pillow's HEIC decoder (the libvips wheel has no HEVC decoder): imported by the
first HEIC a render process sees, not by every render process (3 MB of each)."""

from __future__ import annotations

import functools


@functools.cache
def register() -> None:
    """Let `PIL.Image.open` read HEIC from now on (registering twice, from two threads at once,
    is harmless)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
