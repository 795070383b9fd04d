"""Upload ingest: check an untrusted file and turn it into the file imgpro stores and serves.

The order is the security argument; each step runs only once the one before it has passed:

1. an empty file is refused;
2. the magic bytes name the format (:func:`~imgpro.media.formats.sniff`); anything unlisted is
   refused before any decoder sees it, and each format is then opened with its own loader only
   (never libvips' or Pillow's format guessing, which would happily open TIFF, PDF, FITS, PSD...);
3. the byte limit (the SVG one for SVG);
4. the header alone gives width × height (× frames): over ``max_pixels`` is refused undecoded;
5. a full decode that fails on any error, so a truncated or corrupt file is refused.

What is stored carries no EXIF/XMP/IPTC, has its orientation applied and is sRGB: JPEG, PNG, WebP
and AVIF files that already are so (nothing but pixel data in their structure) are kept byte for
byte; JPEG, PNG and WebP files whose pixels are so lose their metadata segment by segment (chunk
by chunk), without a re-encode; the others are re-encoded in their own format. GIF, BMP and ICO
are kept as uploaded; HEIC becomes JPEG, and a large one gets its working copy at once, from the
pixels it was decoded to (:mod:`imgpro.media.working_copy`); SVG is sanitised
(:mod:`imgpro.media.svg`).

The placeholder (:mod:`imgpro.media.placeholder`) is made from the stored pixels; for a still kept
as uploaded, the full decode of step 5 streams into a 32 px thumbnail, so it costs no decode more.
"""

from __future__ import annotations

import io
import mmap
import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import pyvips
from PIL import Image

from imgpro.errors import ApiError, invalid
from imgpro.media import heif, placeholder, working_copy
from imgpro.media.formats import CONTENT_TYPES, NAMES, SNIFF_BYTES, TRANSFORMABLE, sniff
from imgpro.media.ingested import Ingested, Placeholder
from imgpro.media.render import working_copy_of_pixels
from imgpro.media.svg import sanitize_svg, svg_size
from imgpro.units import MB, size_text, up_to_tenth

NOT_AN_IMAGE = (
    "The file is not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, SVG, BMP or ICO)."
)

_VIPS_LOADERS = {
    "jpg": pyvips.Image.jpegload,
    "png": pyvips.Image.pngload,
    "gif": pyvips.Image.gifload,
    "webp": pyvips.Image.webpload,
    "avif": pyvips.Image.heifload,
}
_PILLOW_FORMATS = {"bmp": "BMP", "ico": "ICO"}
_METADATA_FIELDS = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")
# a file with more segments than this is not worth walking in Python: it is re-encoded instead
_MAX_SEGMENTS = 10_000


def ingest(
    path: Path,
    *,
    workdir: Path,
    max_bytes: int,
    max_svg_bytes: int = 10 * MB,
    max_pixels: int = 100_000_000,
    field: str = "file",
) -> Ingested:
    """Check the upload at ``path`` and return what to store; :func:`invalid` on any refusal.

    New files are written under ``workdir`` with unique names; ``path`` itself is never changed.
    """
    size = path.stat().st_size
    if size == 0:
        raise invalid(field, "The file is empty; choose an image file and upload it again.")
    with path.open("rb") as upload:
        head = upload.read(SNIFF_BYTES)
    kind = sniff(head)
    if kind is None:
        raise invalid(field, NOT_AN_IMAGE)
    limit = max_svg_bytes if kind == "svg" else max_bytes
    if size > limit:
        what = "The SVG" if kind == "svg" else "The file"
        raise invalid(field, f"{what} is {size_text(size)}; the limit is {size_text(limit)}.")
    job = _Job(path, kind, workdir, max_pixels, field)
    if kind == "svg":
        return job.svg()
    if kind == "heic":
        return job.heic()
    if kind in _PILLOW_FORMATS:
        return job.with_pillow()
    return job.with_vips()


@dataclass(frozen=True)
class _Job:
    path: Path
    kind: str
    workdir: Path
    max_pixels: int
    field: str

    # ---- libvips: jpg png gif webp avif -------------------------------------------------------

    def with_vips(self) -> Ingested:
        header = self._vips_load()  # lazy: only the header is read here
        frames = _frames(header) if self.kind in ("gif", "webp") else 1
        self._check_pixels(header.width, _page_height(header), frames)
        orientation = _orientation(header) if frames == 1 else 1
        if self._is_plain(header, orientation):
            preview = self._validate(header, frames)
            return self._ingested(
                self.path, self.kind, header.width, _page_height(header), frames, preview
            )
        if self._losslessly_strippable(header, orientation):
            stripped = self._new_path(self.kind)
            if _STRIPPERS[self.kind](self.path, stripped):
                # metadata dropped segment by segment (chunk by chunk): no re-encode, no quality
                # lost, 10-20x faster (a 6 MP WebP: ~90 ms instead of ~1.3 s)
                preview = replace(self, path=stripped)._validate(header, frames)
                return self._ingested(
                    stripped, self.kind, header.width, _page_height(header), frames, preview
                )
            stripped.unlink(missing_ok=True)
        stored, image = self._rewrite(orientation, frames)
        height, rewritten = _page_height(image), placeholder.of_file(stored, self.kind)
        return self._ingested(stored, self.kind, image.width, height, frames, rewritten)

    def _vips_load(self, *, access: str = "sequential", **options: Any) -> pyvips.Image:
        loader = _VIPS_LOADERS[self.kind]
        try:
            return loader(
                str(self.path), access=access, fail_on="error", revalidate=True, **options
            )
        except pyvips.Error:
            raise self._damaged() from None

    def _is_plain(self, header: pyvips.Image, orientation: int) -> bool:
        """Whether the file can be served as uploaded: nothing but sRGB pixels in it."""
        if self.kind == "gif":
            return True
        fields = header.get_fields()
        if orientation != 1 or header.interpretation == "cmyk":
            return False
        if any(name in fields for name in _METADATA_FIELDS):
            return False
        if any(name.startswith(("png-comment", "jpeg-comment")) for name in fields):
            return False
        with self.path.open("rb") as stream:
            if self.kind == "jpg":
                return _plain_jpeg(stream)
            if self.kind == "png":
                return _plain_png(stream)
            if self.kind == "webp":
                chunks = _webp_chunks(stream)
                return chunks is not None and {name for name, _, _ in chunks} <= _WEBP_PLAIN
        return True  # avif: libvips reports its Exif, XMP and colour profile items

    def _losslessly_strippable(self, header: pyvips.Image, orientation: int) -> bool:
        """A JPEG, PNG or WebP whose pixels are already upright sRGB: only its metadata must go."""
        return (
            self.kind in _STRIPPERS
            and orientation == 1
            and header.interpretation != "cmyk"
            and not _has_profile(header)
        )

    def _validate(self, header: pyvips.Image, frames: int) -> Placeholder:
        """Decode every pixel once, in constant memory, failing on any decoder error; the
        placeholder of the file (`header`: its size)."""
        try:
            if frames > 1:
                self._vips_load(n=-1).avg()
                preview = placeholder.of_file(self.path, self.kind)  # the first frame
            else:
                options: dict[str, Any] = {}
                if self.kind == "jpg":
                    # DCT scaling still entropy-decodes the whole file (damage is found) for less
                    options["shrink"] = placeholder.jpeg_shrink(header.width, header.height)
                preview = placeholder.of_decoded(self._vips_load(**options))
        except pyvips.Error:
            raise self._damaged() from None
        assert preview is not None  # only SVG has none
        return preview

    def _rewrite(self, orientation: int, frames: int) -> tuple[Path, pyvips.Image]:
        """Re-encode in the same format: oriented, sRGB, without metadata."""
        out = self._new_path(self.kind)
        # rotating reads the source out of order, which sequential access cannot do
        access = "sequential" if orientation == 1 else "random"
        options: dict[str, Any] = {"n": -1} if frames > 1 else {}
        lossless = False
        if self.kind == "webp":
            with self.path.open("rb") as stream:
                lossless = any(name == b"VP8L" for name, _, _ in _webp_chunks(stream) or [])
        # a damaged colour profile gets a second try without it; nothing else is retried
        for use_profile in (True, False):
            source = self._vips_load(access=access, **options)
            image = _to_srgb(source, use_profile=use_profile)
            if orientation != 1:
                image = image.autorot()
            try:
                _save(image, out, self.kind, lossless=lossless)
                return out, image
            except pyvips.Error:
                out.unlink(missing_ok=True)
                if not _has_profile(source):
                    break
        raise self._damaged()

    # ---- HEIC: pillow-heif decodes it (the libvips wheel has no HEVC decoder), libvips the rest --

    def heic(self) -> Ingested:
        """An upright sRGB JPEG (Q90, chroma halved as in the HEVC) and, for a large one, its
        working copy, made from the decoded pixels: made later, it would decode the JPEG again
        (12 MP: 64 ms here, 115-140 ms from the JPEG, its decode ~75 of them)."""
        pixels = self._heic_pixels()
        out = self._new_path("jpg")
        try:
            pixels.jpegsave(str(out), Q=90, subsample_mode="on", keep="none")
        except pyvips.Error:
            raise self._damaged() from None
        width, height = pixels.width, pixels.height
        ingested = self._ingested(out, "jpg", width, height, 1, placeholder.of_file(out, "jpg"))
        if not working_copy.wanted("jpg", width, height, 1):
            return ingested
        return replace(ingested, working_copy=working_copy_of_pixels(pixels, "jpg"))

    def _heic_pixels(self) -> pyvips.Image:
        """The primary image decoded (libheif applies its rotation and mirror), sRGB through
        its colour profile (a damaged one is dropped), on white where it has alpha, in memory."""
        try:
            picture = heif.open_file(self.path)
        except Exception:  # a decoder can fail any way on untrusted input
            raise self._damaged() from None
        width, height = picture.size
        self._check_pixels(width, height, 1)
        try:
            image = heif.pixels(picture)
        except Exception:
            raise self._damaged() from None
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        if profile := picture.info.get("icc_profile"):
            image = image.copy()
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
        for use_profile in (True, False):
            try:
                srgb = _to_srgb(image, use_profile=use_profile)
                return (srgb if srgb.bands >= 3 else srgb.colourspace("srgb")).copy_memory()
            except pyvips.Error:
                if not _has_profile(image):
                    break
        raise self._damaged()

    # ---- Pillow: bmp ico (the libvips wheel has no decoder for them) ---------------------------

    def with_pillow(self) -> Ingested:
        if self.kind == "ico" and (pixels := _ico_pixels(self.path)) > self.max_pixels:
            # before Image.open, which decodes the first icon: Pillow's own bomb check lets
            # through up to 178 megapixels
            raise invalid(
                self.field,
                f"The icons hold {_megapixels(pixels)} megapixels in all; "
                f"the limit is {_megapixels(self.max_pixels)} megapixels.",
            )
        with warnings.catch_warnings(), self.path.open("rb") as stream:
            # decoder warnings on untrusted input are not actionable; Pillow's bomb warning among
            # them: the pixel limit that counts is ours, checked from the header before decoding
            warnings.simplefilter("ignore")
            try:
                picture = Image.open(stream, formats=[_PILLOW_FORMATS[self.kind]])
            except Image.DecompressionBombError:
                raise self._too_large() from None
            except Exception:  # a decoder can fail any way on untrusted input
                raise self._damaged() from None
            with picture:
                return self._pillow_picture(picture)

    def _pillow_picture(self, picture: Image.Image) -> Ingested:
        if self.kind != "ico":  # icons were counted before opening
            self._check_pixels(*picture.size, 1)
        try:
            if self.kind == "ico":
                for index in range(len(picture.ico.entry)):  # type: ignore[attr-defined]
                    picture.ico.frame(index).load()  # type: ignore[attr-defined]
            picture.load()
            preview = placeholder.of_pillow(picture)
        except Image.DecompressionBombError:
            raise self._too_large() from None
        except Exception:  # a decoder can fail any way on untrusted input
            raise self._damaged() from None
        return self._ingested(self.path, self.kind, *picture.size, 1, preview)

    # ---- SVG ------------------------------------------------------------------------------------

    def svg(self) -> Ingested:
        clean = sanitize_svg(self.path.read_bytes(), field=self.field)
        width, height = svg_size(clean)
        out = self._new_path("svg")
        out.write_bytes(clean)
        return self._ingested(out, "svg", width, height, 1, None)

    # ---- shared ---------------------------------------------------------------------------------

    def _check_pixels(self, width: int, height: int, frames: int) -> None:
        if width * height * frames > self.max_pixels:
            raise self._too_large(width, height, frames)

    def _too_large(self, width: int = 0, height: int = 0, frames: int = 1) -> ApiError:
        """Over the pixel limit; without dimensions when Pillow refused before we could see them."""
        limit = f"the limit is {_megapixels(self.max_pixels)} megapixels."
        pixels = _megapixels(width * height * frames)
        if not width:
            message = f"The image is too large; {limit}"
        elif frames > 1:
            message = f"The animation is {pixels} megapixels over {frames} frames; {limit}"
        else:
            message = f"The image is {pixels} megapixels ({width}×{height}); {limit}"
        return invalid(self.field, message)

    def _damaged(self) -> ApiError:
        return invalid(
            self.field,
            f"The {NAMES[self.kind]} file is damaged or incomplete and could not be decoded; "
            "upload the original file again.",
        )

    def _new_path(self, kind: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / f"{uuid.uuid4().hex}.{kind}"

    @staticmethod
    def _ingested(
        path: Path,
        kind: str,
        width: int,
        height: int,
        frames: int,
        preview: Placeholder | None,
    ) -> Ingested:
        return Ingested(
            path=path,
            format=kind,
            content_type=CONTENT_TYPES[kind],
            width=width,
            height=height,
            bytes=path.stat().st_size,
            animated=frames > 1,
            frames=frames,
            transformable=kind in TRANSFORMABLE,
            placeholder=preview,
        )


# ---- libvips helpers ----------------------------------------------------------------------------


def _frames(image: pyvips.Image) -> int:
    return max(1, image.get("n-pages")) if "n-pages" in image.get_fields() else 1


def _page_height(image: pyvips.Image) -> int:
    if "page-height" in image.get_fields():
        page_height: int = image.get("page-height")
        if 0 < page_height <= image.height and image.height % page_height == 0:
            return page_height
    return int(image.height)


def _orientation(image: pyvips.Image) -> int:
    orientation = image.get("orientation") if "orientation" in image.get_fields() else 1
    return orientation if 1 <= orientation <= 8 else 1


def _has_profile(image: pyvips.Image) -> bool:
    return "icc-profile-data" in image.get_fields()


def _to_srgb(image: pyvips.Image, *, use_profile: bool) -> pyvips.Image:
    """sRGB pixels from CMYK or from the embedded colour profile (when ``use_profile``)."""
    depth = 16 if image.format == "ushort" else 8
    if image.interpretation == "cmyk":
        return image.icc_transform("srgb", input_profile="cmyk", embedded=use_profile, depth=depth)
    if use_profile and _has_profile(image):
        return image.icc_transform("srgb", embedded=True, depth=depth)
    return image


def _save(image: pyvips.Image, out: Path, kind: str, *, lossless: bool) -> None:
    if kind == "jpg":
        image.jpegsave(str(out), Q=90, optimize_coding=True, keep="none")
    elif kind == "png":
        image.pngsave(str(out), compression=6, keep="none")
    elif kind == "webp":
        image.webpsave(str(out), Q=90, lossless=lossless, keep="none")
    else:  # avif
        image.heifsave(str(out), Q=90, compression="av1", keep="none")


# ---- structure walks: is there anything but pixels in the file? ---------------------------------

_PNG_PLAIN = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"sRGB",
    b"gAMA",
    b"cHRM",
    b"pHYs",
    b"bKGD",
    b"sBIT",
    b"hIST",
}
# what may go unread: text, Exif, the time of the last edit (a colour profile changes the pixels)
_PNG_METADATA = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_WEBP_PLAIN = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
_WEBP_METADATA = {b"EXIF", b"XMP "}
_VP8X_METADATA_FLAGS = 0x08 | 0x04  # the EXIF and XMP bits


def _strip_jpeg(source: Path, target: Path) -> bool:
    """Copy a JPEG without its APPn and comment segments and anything after EOI. False when
    it can't be done safely (an Adobe APP14 segment changes how colours decode)."""
    with (
        source.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        kept = [b"\xff\xd8"]
        position = 2
        for _ in range(_MAX_SEGMENTS):
            if position + 4 > len(data) or data[position] != 0xFF:
                return False
            code = data[position + 1]
            if code == 0xDA:  # start of scan: copy the entropy-coded data up to and with EOI
                end = data.find(b"\xff\xd9", position)
                if end < 0:
                    return False
                with target.open("wb") as out:
                    out.write(b"".join(kept))
                    out.write(data[position : end + 2])
                return True
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            if length < 2 or code == 0xEE:
                return False
            if not (code == 0xFE or 0xE0 <= code <= 0xEF):
                kept.append(data[position : position + 2 + length])
            position += 2 + length
    return False


def _plain_jpeg(stream: BinaryIO) -> bool:
    """Only a JFIF header (no thumbnail) and coding tables before the scan, nothing after EOI."""
    stream.seek(2)
    for _ in range(_MAX_SEGMENTS):
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return False
        code = marker[1]
        if code == 0xDA:  # start of scan: the header is over
            stream.seek(-2, io.SEEK_END)
            return stream.read(2) == b"\xff\xd9"
        length = int.from_bytes(stream.read(2), "big")
        if length < 2:
            return False
        if code == 0xFE or 0xE1 <= code <= 0xEF:  # comment, APP1..APP15: Exif, XMP, ICC, IPTC, ...
            return False
        if code == 0xE0:
            app0 = stream.read(length - 2)
            # JFIF with a zero-sized thumbnail; JFXX (thumbnail extension) is metadata too
            if not (app0[:5] == b"JFIF\x00" and len(app0) >= 14 and app0[12] * app0[13] == 0):
                return False
        else:
            stream.seek(length - 2, io.SEEK_CUR)
    return False


def _plain_png(stream: BinaryIO) -> bool:
    """Only pixel and basic colour chunks (no text, Exif, ICC, APNG frames), nothing after IEND."""
    chunks = _png_chunks(stream)
    if chunks is None or not {name for name, _, _ in chunks} <= _PNG_PLAIN:
        return False
    _, offset, length = chunks[-1]
    return offset + length == stream.seek(0, io.SEEK_END)


def _png_chunks(stream: BinaryIO) -> list[tuple[bytes, int, int]] | None:
    """The chunks up to and with IEND as (name, offset, length with header and CRC); None when
    the file ends before IEND."""
    chunks: list[tuple[bytes, int, int]] = []
    position = 8
    for _ in range(_MAX_SEGMENTS):
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            return None
        length, chunk = int.from_bytes(header[:4], "big") + 12, header[4:]
        chunks.append((chunk, position, length))
        if chunk == b"IEND":
            return chunks
        position += length
    return None


def _strip_png(source: Path, target: Path) -> bool:
    """Copy a PNG without its text, Exif and time chunks and anything after IEND. False when
    it holds any chunk that is neither (APNG frames, a private chunk)."""
    with source.open("rb") as stream:
        chunks = _png_chunks(stream)
        if chunks is None or not {name for name, _, _ in chunks} <= _PNG_PLAIN | _PNG_METADATA:
            return False
        with target.open("wb") as out:
            out.write(b"\x89PNG\r\n\x1a\n")
            for name, offset, length in chunks:
                if name not in _PNG_METADATA:
                    stream.seek(offset)
                    out.write(stream.read(length))
    return True


def _webp_chunks(stream: BinaryIO) -> list[tuple[bytes, int, int]] | None:
    """The top-level RIFF chunks as (name, offset, length with header and padding); None when
    the RIFF size disagrees with the file or a chunk runs past it."""
    stream.seek(0)
    riff = stream.read(12)
    end = int.from_bytes(riff[4:8], "little") + 8
    if stream.seek(0, io.SEEK_END) != end:
        return None
    chunks: list[tuple[bytes, int, int]] = []
    position = 12
    for _ in range(_MAX_SEGMENTS):
        if position >= end:
            return chunks
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            return None
        size = int.from_bytes(header[4:], "little")
        if position + 8 + size > end:
            return None
        # a last chunk may lack its padding byte
        length = min(8 + size + (size & 1), end - position)
        chunks.append((header[:4], position, length))
        position += length
    return None


def _strip_webp(source: Path, target: Path) -> bool:
    """Copy a WebP without its EXIF and XMP chunks, their VP8X flags cleared. False when it
    holds any chunk that is neither pixels nor those (a colour profile, an unknown chunk)."""
    with source.open("rb") as stream:
        chunks = _webp_chunks(stream)
        if chunks is None or not {name for name, _, _ in chunks} <= _WEBP_PLAIN | _WEBP_METADATA:
            return False
        kept = [
            (name, offset, length) for name, offset, length in chunks if name not in _WEBP_METADATA
        ]
        with target.open("wb") as out:
            size = 4 + sum(length for _, _, length in kept)
            out.write(b"RIFF" + size.to_bytes(4, "little") + b"WEBP")
            for name, offset, length in kept:
                stream.seek(offset)
                chunk = stream.read(length)
                if name == b"VP8X" and len(chunk) > 8:
                    chunk = chunk[:8] + bytes([chunk[8] & ~_VP8X_METADATA_FLAGS]) + chunk[9:]
                out.write(chunk)
    return True


_STRIPPERS = {"jpg": _strip_jpeg, "png": _strip_png, "webp": _strip_webp}


# ---- Pillow helpers -----------------------------------------------------------------------------


def _ico_pixels(path: Path) -> int:
    """Pixels over every icon in the file, from each embedded PNG or DIB header, undecoded."""
    total = 0
    with path.open("rb") as stream:
        stream.seek(4)
        count = int.from_bytes(stream.read(2), "little")
        directory = stream.read(16 * count)
        for index in range(len(directory) // 16):
            offset = int.from_bytes(directory[16 * index + 12 : 16 * index + 16], "little")
            stream.seek(offset)
            icon = stream.read(24)
            if icon[:8] == b"\x89PNG\r\n\x1a\n":
                width = int.from_bytes(icon[16:20], "big")
                height = int.from_bytes(icon[20:24], "big")
            else:  # a DIB whose height counts the colour and the mask halves
                width = abs(int.from_bytes(icon[4:8], "little", signed=True))
                height = abs(int.from_bytes(icon[8:12], "little", signed=True)) // 2
            total += width * height
    return total


# ---- messages -----------------------------------------------------------------------------------


def _megapixels(pixels: int) -> str:
    return up_to_tenth(pixels / 1_000_000)
