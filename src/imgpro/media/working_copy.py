"""Working copies: a large still original is also stored at most `SIDE` pixels a side, and the CDN
renders every variant that needs no more pixels than that from the copy.

Made lazily, by the first variant that would render from it (`cdn.variants`), not at upload:
a 12 MP copy costs about five small variants' CPU, and most uploads never get that many.

Decoding costs about what the compressed size costs, even with JPEG shrink-on-load (the entropy
decoder reads every byte), so a 12 MP camera JPEG costs several times its 2560 px copy for the
same 640 px variant. The copy keeps the original's format at a quality no variant shows, encoded
for speed (no one downloads it): JPEG Q 92 with standard Huffman tables (chroma at half
resolution, i.e. 1280 px, finer than any variant up to that size can show), WebP Q 92 (effort
2), AVIF Q 90, PNG lossless at zlib level 1. GIFs and animations get none: re-quantising a
palette loses more than the copy saves.

The rules are here, without pixels (the server applies them); the copy is made by
`imgpro.media.render.make_working_copy`, in a render process.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Long side of a working copy: covers every named size and the usual srcset widths (≤ 2560).
SIDE = 2560
#: Only originals longer than this get one: below it the copy decodes too little faster to be
#: worth its storage (and a typical upload, ~2300 px, stays a single blob).
ABOVE = 3200


@dataclass(frozen=True)
class WorkingCopy:
    data: bytes
    width: int
    height: int


def wanted(fmt: str, width: int, height: int, frames: int) -> bool:
    """Whether an original of this format and size gets a working copy."""
    return fmt in ("jpg", "png", "webp", "avif") and frames == 1 and max(width, height) > ABOVE


def size(width: int, height: int) -> tuple[int, int]:
    """The size of the copy of a width×height original."""
    scale = SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
