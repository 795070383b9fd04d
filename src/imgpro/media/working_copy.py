"""Working copies: a large still original is also stored at most `SIDE` pixels a side, and the CDN
renders every variant that needs no more pixels than that from the copy.

Made lazily, by the first variant that would render from it (`cdn.variants`), not at upload:
a 12 MP copy costs about four small variants' CPU, and most uploads never get that many. A HEIC's
is the exception: ingest decodes it whole to make its JPEG anyway, and the copy of those pixels
costs half what a lazy copy would, which decodes the JPEG again (12 MP: 64 against 115-140 ms).

Decoding costs about what the compressed size costs, even with JPEG shrink-on-load (the entropy
decoder reads every byte), so a 12 MP camera JPEG costs several times its 2560 px copy for the
same 640 px variant. The copy is encoded at a quality no variant shows, for speed (no one
downloads it): JPEG Q 92 with standard Huffman tables (chroma at half resolution, i.e. 1280 px,
finer than any variant up to that size can show), PNG lossless at zlib level 1. A WebP or AVIF
without alpha gets a JPEG copy too (see `copy_format`); one with alpha keeps its format (WebP
Q 92 at effort 2, AVIF Q 90). GIFs and animations get none: re-quantising a palette loses more
than the copy saves.

The rules are here, without pixels (the server applies them); the copy is made by
`imgpro.media.render.make_working_copy` (a HEIC's by `working_copy_of_pixels`), in a render
process.
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
    format: str  # its own, which may not be the original's (see `copy_format`)


def copy_format(fmt: str, has_alpha: bool) -> str:
    """The format of the working copy of an original in `fmt`.

    An opaque WebP or AVIF gets a JPEG copy: libjpeg-turbo makes and decodes it several times
    faster, as faithfully. Measured on 12 MP photos, against a copy in the original's format,
    with the mean difference of 320/640/1280 px variants from the original decoded whole and
    Lanczos-resized (levels of 255):

    - WebP: the copy 440 against 834 ms; WebP variants from it 39/82/189 against 134/194/296 ms;
      difference 0.88/1.26/1.53 against 2.12/1.88/2.23 (from the original itself 1.96/1.33/1.14:
      libwebp's own downscaling on load);
    - AVIF: the copy 890 against 4,771 ms; variants 45/84/166 against 557/751/783 ms (from the
      original 841/893/1,103); difference 0.77/1.16/1.48 against 0.67/1.36/1.00.

    Alpha keeps the original's format, which holds it; PNG keeps its lossless copy (graphics)."""
    return "jpg" if fmt in ("webp", "avif") and not has_alpha else fmt


def wanted(fmt: str, width: int, height: int, frames: int) -> bool:
    """Whether an original of this format and size gets a working copy."""
    return fmt in ("jpg", "png", "webp", "avif") and frames == 1 and max(width, height) > ABOVE


def size(width: int, height: int) -> tuple[int, int]:
    """The size of the copy of a width×height original (never larger than it)."""
    scale = min(1.0, SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
