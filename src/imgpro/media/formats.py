"""Which image formats imgpro accepts, told from the file's magic bytes alone.

The filename and the declared content type are never consulted: an upload is what its first bytes
say it is. Anything not listed here (TIFF, PDF, PSD, FITS, vips native, CSV/matrix text, HTML, plain
text, ...) sniffs as ``None`` and is refused before any decoder sees it.
"""

from __future__ import annotations

import re

#: How many leading bytes :func:`sniff` wants; fewer only miss SVGs with a long preamble.
SNIFF_BYTES = 8192

CONTENT_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
    "svg": "image/svg+xml",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
}

#: Formats the CDN can resize and re-encode; HEIC is stored as JPEG, so it ends up here too.
TRANSFORMABLE = frozenset({"jpg", "png", "gif", "webp", "avif"})

#: Human names, in the order the refusal message lists them.
NAMES: dict[str, str] = {
    "jpg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WebP",
    "avif": "AVIF",
    "heic": "HEIC",
    "svg": "SVG",
    "bmp": "BMP",
    "ico": "ICO",
}

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
# BITMAPCOREHEADER, BITMAPINFOHEADER, the two Adobe variants, OS/2 2.x, BITMAPV4HEADER, V5
_DIB_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_ICO_DEPTHS = {0, 1, 2, 4, 8, 16, 24, 32}

# What may precede the root element of an SVG: whitespace, an XML declaration, comments, processing
# instructions and a DOCTYPE (with an optional internal subset).
_SVG_PROLOGUE = re.compile(
    rb"""\A(?:
        \s+
      | <\?[^>]*\?>
      | <!--.*?-->
      | <!DOCTYPE\s[^\[>]*(?:\[.*?\]\s*)?>
    )""",
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)
_SVG_ROOT = re.compile(rb"\A<(?:[A-Za-z_][\w.-]*:)?svg[\s/>]")


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes (at least 512; :data:`SNIFF_BYTES` is best)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return _iso_bmff(head)
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _DIB_HEADER_SIZES:
        return "bmp"
    if _is_ico(head):
        return "ico"
    if _is_svg(head):
        return "svg"
    return None


def _iso_bmff(head: bytes) -> str | None:
    """AVIF or HEIC from the ``ftyp`` box's major and compatible brands (AVIF wins when both)."""
    size = int.from_bytes(head[:4], "big")
    if size < 16 or size > len(head):
        return None
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIC_BRANDS:
        return "heic"
    return None


def _is_ico(head: bytes) -> bool:
    if head[:4] != b"\x00\x00\x01\x00" or len(head) < 22:
        return False
    count = int.from_bytes(head[4:6], "little")
    entry = head[6:22]  # the first directory entry: w, h, colours, reserved, planes, bpp, ...
    planes = int.from_bytes(entry[4:6], "little")
    depth = int.from_bytes(entry[6:8], "little")
    return count >= 1 and entry[3] == 0 and planes in (0, 1) and depth in _ICO_DEPTHS


def _is_svg(head: bytes) -> bool:
    text = head.removeprefix(b"\xef\xbb\xbf")
    while match := _SVG_PROLOGUE.match(text):
        text = text[match.end() :]
    return bool(_SVG_ROOT.match(text))
