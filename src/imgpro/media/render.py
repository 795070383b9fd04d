"""Render a stored image through a `TransformSpec` with libvips (the CDN's variant engine).

Pipeline: sniff -> header (pixel budget) -> thumbnail with shrink-on-load (EXIF orientation, sRGB,
premultiplied resize) -> rotate/flip -> crop -> cutout -> tone -> blur/sharpen -> pad -> flatten
-> save without metadata. Animated GIF/WebP stay animated when the output is gif or webp (every
frame goes through the same steps); otherwise the first frame is used. Where Pillow's codec
builds are faster and make the same pixels, they decode (upright JPEGs, WebPs at their size)
and encode (still RGB JPEG, WebP, AVIF); a still kept at its size with no step between goes
from Pillow's decoder straight to its encoder.

Safety: only the five raster formats are decoded (sniffed from the bytes, and the libvips loader
checked), width × height × frames is checked against `max_pixels` before any pixel is decoded,
every output is capped to `max_output_side` a side and `max_output_pixels` in total (frames
counted) by scaling the requested box down, and a deadline kills libvips mid-evaluation. The
libvips operation cache is off (`cache_set_max(0)`, process-wide): every variant is rendered once
and then cached by the CDN, so the cache would only hold decoded pixels of dead requests.
Memory per render is bounded by the pixel budgets (libvips streams the shrink), plus one
output-sized copy when a step must read pixels twice (smart crop, cutout).

Working copies: a large still may also be stored smaller (`imgpro.media.working_copy`, made at
upload). Decoding costs about what the compressed size costs, so a variant that needs no more
pixels than the copy has (`fits_working_copy`) renders from it: its geometry is still planned
against the original's size (`render(..., original_size=...)`), so crops and gravity are the same.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyvips

from imgpro.media import heif, working_copy
from imgpro.media.formats import CONTENT_TYPES, SNIFF_BYTES, sniff
from imgpro.media.geometry import (
    PAD_DIRECTIONS,
    Limits,
    Plan,
    kept_before_upscale,
    layout,
    orient,
    place_crop,
)
from imgpro.media.outputs import DEFAULT_Q, HAS_ALPHA, Rendered, RenderRefused, output_format
from imgpro.media.transform import TransformSpec
from imgpro.media.working_copy import SIDE as COPY_SIDE
from imgpro.media.working_copy import WorkingCopy

if TYPE_CHECKING:
    import PIL.Image

pyvips.cache_set_max(0)

_ANIMATES = {"gif", "webp"}
_KEEP_NONE = pyvips.enums.ForeignKeep.NONE


# -- sources ------------------------------------------------------------------------------------


# the decoder for each format render accepts, picked from magic bytes (never the stored name)
_LOADERS = {
    "jpg": "jpegload",
    "png": "pngload",
    "gif": "gifload",
    "webp": "webpload",
    "avif": "heifload",
    "heic": "pillow-heif",
}


def vips_source(stored: bytes | Path) -> pyvips.Source:
    """libvips' reader for the stored bytes. A file is read by the loader a chunk at a time
    rather than copied into memory first (a 16 MB PNG would cost its size in fresh pages on
    every render), and opened as a file, not by name: libvips would parse "[options]" out of
    a name."""
    if isinstance(stored, Path):
        try:
            return pyvips.Source.new_from_file(str(stored))
        except pyvips.Error:
            if not stored.exists():  # deleted meanwhile: the variant is gone, not corrupt
                raise FileNotFoundError(stored) from None
            raise
    return pyvips.Source.new_from_memory(stored)


@dataclass
class _Source:
    stored: bytes | Path
    loader: str
    width: int  # display orientation (after EXIF), one frame
    height: int
    frames: int
    decoded: pyvips.Image | None = None  # HEIC, decoded by Pillow
    as_stored: bool = False  # upright, no colour profile: its decoded pixels are the output's

    def scaled(
        self, width: int, height: int, *, animated: bool, working_copy: bool = False
    ) -> pyvips.Image:
        """The image at exactly width×height: oriented, sRGB, resized premultiplied."""
        if self.decoded is not None:
            return pyvips.Image.thumbnail_image(self.decoded, width, height=height, size="force")
        if self.loader == "webpload" and self._whole_still(width, height):
            # Pillow's libwebp decodes a still a third cheaper than the libvips wheel's (1 MP:
            # 27 against 45 ms to a JPEG of the same size; 12 MP: 424 against 463), but
            # libvips decodes straight to a smaller size, which Pillow cannot: only at 1:1
            picture = _pillow_decode(self.stored, "WEBP")
            if picture is not None:
                return _from_pillow(picture)
        margin = _COPY_DCT_MARGIN if working_copy else 1
        shrink = _dct_shrink(self.width, self.height, width, height, margin)
        if self.loader == "jpegload" and self.as_stored and not working_copy:
            # Pillow's libjpeg-turbo decodes the same pixels as the libvips wheel's at the same
            # DCT scale, for less CPU (1 MP: 6.4 against 9.9 ms whole, 5.4 against 7.5 at half
            # scale). Not a working copy: from its 2560 px, libvips' streamed decode and resize
            # came out as cheap (1280 px) or cheaper (320 px: 27.6 against 31.4 ms)
            decoded = _jpeg_by_pillow(self.stored, self.width // shrink, self.height // shrink)
            if decoded is not None:
                if (decoded.width, decoded.height) == (width, height):
                    return decoded
                return pyvips.Image.thumbnail_image(decoded, width, height=height, size="force")
        if self.loader == "jpegload" and shrink > 1:
            # decode at the DCT scale that leaves at least the target (as Pillow's draft mode
            # does): libvips' thumbnail keeps a further factor of two in hand, which costs up
            # to twice the decode for no visible difference once the result is resized
            reduced = pyvips.Image.jpegload_source(
                vips_source(self.stored), shrink=shrink, access="sequential", fail_on="truncated"
            )
            return pyvips.Image.thumbnail_image(reduced, width, height=height, size="force")
        return pyvips.Image.thumbnail_source(
            vips_source(self.stored),
            width,
            height=height,
            size="force",
            # the loader's options: thumbnail's own fail_on is not passed on to it
            option_string="n=-1,fail_on=truncated" if animated else "fail_on=truncated",
        )

    def picture(self, width: int, height: int) -> PIL.Image.Image | None:
        """This still decoded by Pillow as it is stored, when that is the output's whole
        width×height in RGB (a JPEG, or a WebP without alpha): the pixels to hand straight to
        Pillow's encoder when no step comes between."""
        kinds = {"jpegload": "JPEG", "webpload": "WEBP"}
        if self.loader not in kinds or not self._whole_still(width, height):
            return None
        return _pillow_decode(self.stored, kinds[self.loader], modes=("RGB",))

    def _whole_still(self, width: int, height: int) -> bool:
        """Whether the output keeps this one-frame source's pixels as stored (one frame is never
        animated), at a size whose two decoded copies (Pillow's and libvips') stay within a
        working copy's."""
        whole = (width, height) == (self.width, self.height) and width * height <= COPY_SIDE**2
        return whole and self.as_stored and self.frames == 1


# A working copy is already a Lanczos downscale, detailed up to its last pixel, and a reduced DCT
# decode of it aliases (a 2560 px copy decoded at 1/8 straight to 320 px scored SSIM 0.906
# against 0.974 for thumbor's render of the original): from a copy the DCT scale must leave the
# resize a factor of four. Camera originals are soft at pixel level and take the draft rule.
_COPY_DCT_MARGIN = 4


def _dct_shrink(
    width: int, height: int, target_width: int, target_height: int, margin: float = 1
) -> int:
    """The largest JPEG DCT scale (1, 2, 4 or 8) that still decodes a width×height image to at
    least `margin` times target_width×target_height."""
    ratio = min(width / max(1, target_width), height / max(1, target_height))
    return next((shrink for shrink in (8, 4, 2) if ratio >= shrink * margin), 1)


def _head(stored: bytes | Path) -> bytes:
    if isinstance(stored, Path):
        with open(stored, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    return stored[:SNIFF_BYTES]


def _open(stored: bytes | Path, max_pixels: int) -> _Source:
    loader = _LOADERS.get(sniff(_head(stored)) or "")
    if loader is None:
        raise RenderRefused("not a supported raster image")
    if loader == "pillow-heif":
        data = stored.read_bytes() if isinstance(stored, Path) else stored
        return _open_with_pillow(data, max_pixels)
    try:
        header = pyvips.Image.new_from_source(vips_source(stored), "", access="sequential")
        if not str(header.get("vips-loader")).startswith(loader):
            raise RenderRefused("not a supported raster image")
        width, height = header.width, header.height
        frames = header.get("n-pages") if header.get_typeof("n-pages") else 1
        orientation = header.get("orientation") if header.get_typeof("orientation") else 1
        profiled = bool(header.get_typeof("icc-profile-data"))
    except pyvips.Error as error:
        raise RenderRefused("corrupt image") from error
    if width * height > max_pixels:
        raise RenderRefused("image has too many pixels")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    as_stored = orientation == 1 and not profiled
    return _Source(stored, loader, width, height, max(1, int(frames)), as_stored=as_stored)


def _open_with_pillow(data: bytes, max_pixels: int) -> _Source:
    """HEIC: libvips here has no HEVC decoder, pillow-heif has."""
    from PIL import Image, ImageOps

    heif.register()
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > max_pixels:
                raise RenderRefused("image has too many pixels")
            decoded = _from_pillow(ImageOps.exif_transpose(picture))
    except RenderRefused:
        raise
    except Exception as error:  # any decoder failure is a corrupt blob, not a crash
        raise RenderRefused("corrupt image") from error
    return _Source(data, "pillow-heif", decoded.width, decoded.height, 1, decoded)


def _pillow_decode(
    stored: bytes | Path,
    kind: str,
    draft: tuple[int, int] | None = None,
    modes: tuple[str, ...] = ("RGB", "RGBA"),
) -> PIL.Image.Image | None:
    """A still JPEG or WebP (its size already checked against the pixel budget) decoded by
    Pillow, a JPEG at the DCT scale that leaves at least `draft` (what libvips' `shrink` does),
    or None when its pixels come out in none of `modes` (read from the header, before any
    decoding)."""
    from PIL import Image

    opened = io.BytesIO(stored) if isinstance(stored, bytes) else stored
    try:
        with Image.open(opened, formats=[kind]) as picture:  # leaving it closes the file only
            if draft is not None:
                picture.draft("RGB", draft)
            if picture.mode not in modes:
                return None
            picture.load()
    except FileNotFoundError:
        raise
    except Exception as error:  # any decoder failure is a corrupt blob, not a crash
        raise RenderRefused("corrupt image") from error
    picture.info.clear()  # Pillow's encoders would carry a JPEG's comment over: outputs carry none
    return picture


#: Pillow decodes a JPEG whole where libvips streams it: past a 3 MP photo's pixels the fresh
#: pages of two whole copies (Pillow's and libvips') cost more than its faster decoder saves (a
#: 2560 × 1920 working copy to 1280 px: 57 -> 70 ms; 2048 × 1536 whole: 45 -> 41 ms).
_PILLOW_JPEG_PIXELS = 2048 * 1536


def _jpeg_by_pillow(stored: bytes | Path, width: int, height: int) -> pyvips.Image | None:
    """An RGB JPEG decoded by Pillow at the DCT scale that makes it width×height (libvips' size:
    a partial last block is dropped), or None when libvips should: a grey or CMYK JPEG (which
    libvips converts), or more than `_PILLOW_JPEG_PIXELS`."""
    if width * height > _PILLOW_JPEG_PIXELS:
        return None
    picture = _pillow_decode(stored, "JPEG", (width, height), modes=("RGB",))
    if picture is None:
        return None
    decoded = _from_pillow(picture)
    if (decoded.width, decoded.height) != (width, height):
        decoded = decoded.crop(0, 0, width, height)
    return decoded


def _from_pillow(picture: PIL.Image.Image) -> pyvips.Image:
    """Pillow's decoded pixels as an 8-bit sRGB libvips image, alpha kept."""
    mode = "RGBA" if "A" in picture.getbands() else "RGB"
    pixels = (picture if picture.mode == mode else picture.convert(mode)).tobytes()
    image = pyvips.Image.new_from_memory(pixels, picture.width, picture.height, len(mode), "uchar")
    return image.copy(interpretation="srgb")


# -- time budget --------------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise RenderRefused("render time budget exceeded")

    def watch(self, image: pyvips.Image) -> pyvips.Image:
        """Let libvips abort evaluating `image` once the deadline passes."""

        def on_eval(evaluated: pyvips.Image, _progress: object) -> None:
            if time.monotonic() > self.at:
                evaluated.set_kill(True)

        image.set_progress(True)
        image.signal_connect("eval", on_eval)
        return image

    def materialise(self, image: pyvips.Image) -> pyvips.Image:
        """An in-memory copy, for steps that read pixels more than once."""
        self.check()
        return self.watch(image).copy_memory()


# -- steps --------------------------------------------------------------------------------------


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    grey = image.interpretation in ("b-w", "grey16")
    if image.format == "uchar" and image.interpretation in ("srgb", "b-w"):
        return image
    return image.colourspace("b-w" if grey else "srgb").cast("uchar")


def _crop(
    image: pyvips.Image, size: tuple[int, int], gravity: str, deadline: _Deadline
) -> pyvips.Image:
    width, height = min(size[0], image.width), min(size[1], image.height)
    if gravity == "auto":
        return deadline.materialise(image).smartcrop(width, height, interesting="attention")
    return place_crop(image, width, height, gravity)


def _with_alpha(image: pyvips.Image) -> pyvips.Image:
    return image if image.hasalpha() else image.bandjoin_const([255])


def _colour_for(
    image: pyvips.Image, rgba: tuple[int, int, int, int]
) -> tuple[pyvips.Image, list[int]]:
    """(image, background values) with matching bands; grey turns sRGB for a coloured bg."""
    r, g, b, a = rgba
    grey = image.interpretation == "b-w"
    if grey and not (r == g == b):
        image, grey = image.colourspace("srgb"), False
    colour = [r] if grey else [r, g, b]
    return image, colour + ([a] if image.hasalpha() else [])


def _flatten(image: pyvips.Image, rgba: tuple[int, int, int, int]) -> pyvips.Image:
    r, g, b, _ = rgba if rgba[3] else (255, 255, 255, 255)
    image, colour = _colour_for(image, (r, g, b, 255))
    return image.flatten(background=colour[: image.bands - 1])


def _on_background(
    image: pyvips.Image, rgba: tuple[int, int, int, int], alpha_out: bool
) -> pyvips.Image:
    """Composite an image with alpha onto bg: kept transparent when bg and output allow it."""
    if not image.hasalpha() or (alpha_out and rgba[3] == 0):
        return image
    if rgba[3] == 255 or not alpha_out:
        return _flatten(image, rgba)
    image, colour = _colour_for(image, rgba)
    backdrop = image.new_from_image(colour)
    return backdrop.composite2(image, "over").cast("uchar")


def _pad(
    image: pyvips.Image,
    canvas: tuple[int, int],
    gravity: str,
    rgba: tuple[int, int, int, int],
    alpha_out: bool,
) -> pyvips.Image:
    if not alpha_out or rgba[3] == 255:
        image = _flatten(image, rgba) if image.hasalpha() else image
        rgba = (*rgba[:3], 255) if rgba[3] else (255, 255, 255, 255)
    else:
        image = _with_alpha(image)
    image, colour = _colour_for(image, rgba)
    direction = PAD_DIRECTIONS[gravity]
    return image.gravity(direction, canvas[0], canvas[1], extend="background", background=colour)


def _split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image.extract_band(0, n=image.bands - 1), image.extract_band(image.bands - 1)
    return image, None


def _tone(image: pyvips.Image, spec: TransformSpec) -> pyvips.Image:
    if all(v is None for v in (spec.brightness, spec.contrast, spec.gamma, spec.saturation)):
        return image
    colour, alpha = _split_alpha(image)
    pixels = colour.cast("float")
    if spec.brightness is not None:
        pixels = pixels * spec.brightness
    if spec.contrast is not None:
        pixels = (pixels - 128) * spec.contrast + 128
    if spec.gamma is not None:  # >1 darkens mid-tones, <1 lightens them
        pixels = ((pixels / 255).maxpair(0) ** spec.gamma) * 255
    if spec.saturation is not None and colour.bands == 3:
        luma = pixels.recomb([[0.2126, 0.7152, 0.0722]])
        pixels = (pixels - luma) * spec.saturation + luma
    toned = pixels.cast("uchar").copy(interpretation=colour.interpretation)
    return toned if alpha is None else toned.bandjoin(alpha)


def _blur(image: pyvips.Image, radius: float) -> pyvips.Image:
    sigma = radius / 2
    if image.hasalpha():
        return image.premultiply().gaussblur(sigma).unpremultiply().cast("uchar")
    return image.gaussblur(sigma)


def _sharpen(image: pyvips.Image, amount: float) -> pyvips.Image:
    """Unsharp mask, 1 px radius: out = in + amount * (in - blurred)."""
    colour, alpha = _split_alpha(image)
    soft = colour.gaussblur(1.0)
    sharp = (colour.cast("float") * (1 + amount) - soft.cast("float") * amount).cast("uchar")
    sharp = sharp.copy(interpretation=colour.interpretation)
    return sharp if alpha is None else sharp.bandjoin(alpha)


def _frame(
    image: pyvips.Image,
    spec: TransformSpec,
    geometry: Plan,
    deadline: _Deadline,
    alpha_out: bool,
    *,
    upscale_crop: bool,
) -> pyvips.Image:
    """Every step after the resize, for one (still) frame."""
    if spec.rotate or spec.flip in ("v", "hv"):  # reads rows out of order: no sequential source
        image = deadline.materialise(image)
    image = orient(image, spec)
    if geometry.crop is not None:
        if upscale_crop:  # cut in source pixels, then enlarge only what is kept
            kept = kept_before_upscale(geometry, image.width, image.height)
            image = _crop(image, kept, spec.gravity_or_default, deadline)
            image = pyvips.Image.thumbnail_image(
                image, geometry.crop[0], height=geometry.crop[1], size="force"
            )
        else:
            image = _crop(image, geometry.crop, spec.gravity_or_default, deadline)
    rgba = spec.bg_rgba
    if spec.cutout:
        # imported by the first cutout: numpy and onnxruntime add ~45 MB to a render process,
        # which renders without cutout never need
        from imgpro.media import cutout as cutout_model

        deadline.check()
        image = cutout_model.cut_out(deadline.materialise(image))
        image = _on_background(image, rgba, alpha_out)
    image = _tone(image, spec)
    if spec.blur is not None:
        image = _blur(image, spec.blur)
    if spec.sharp is not None:
        image = _sharpen(image, spec.sharp)
    if geometry.canvas is not None:
        image = _pad(image, geometry.canvas, spec.gravity_or_default, rgba, alpha_out)
    if image.hasalpha() and not alpha_out:
        image = _flatten(image, rgba)
    return image


# -- saving -------------------------------------------------------------------------------------


def _save(image: pyvips.Image, fmt: str, quality: int, *, still: bool) -> bytes:
    saved: bytes  # pyvips is untyped: say what its savers return
    if still and _pillow_encodes(fmt, quality) and _plain_rgb(image):
        pixels = image.write_to_memory()  # runs the pipeline (watched by the deadline)
        saved = _pillow_encode(_pillow_frame(pixels, image.width, image.height), fmt, quality)
    elif fmt == "jpg":
        saved = image.jpegsave_buffer(Q=quality, optimize_coding=True, keep=_KEEP_NONE)
    elif fmt == "png":
        saved = image.pngsave_buffer(keep=_KEEP_NONE)
    elif fmt == "webp":
        saved = image.webpsave_buffer(Q=quality, keep=_KEEP_NONE)
    elif fmt == "avif":
        # effort 3 is libaom's speed 6, Pillow's default (so thumbor's): effort 2 (speed 7)
        # saved a quarter of the encode on noisy photos, none on smooth ones, and cost 40-65 %
        # more bytes at a lower SSIM
        saved = image.heifsave_buffer(Q=quality, compression="av1", effort=3, keep=_KEEP_NONE)
    else:
        saved = image.gifsave_buffer(keep=_KEEP_NONE)
    return saved


def _plain_rgb(image: pyvips.Image) -> bool:
    return bool(image.bands == 3 and image.format == "uchar" and image.interpretation == "srgb")


# Still RGB images go through Pillow's encoders: the same libjpeg-turbo, libwebp and libaom, with
# libvips' settings, so the same pixels, for less CPU (Pillow's builds are faster than the libvips
# wheel's). A JPEG decodes identically (it carries an 18-byte JFIF header more): 1 MP photo, 1224
# px 11.7 -> 9.6 ms, 640 px 2.8 -> 1.9 ms; a WebP is the same bytes: 1224 px 124 -> 110 ms, 640
# px 31 -> 27 ms; an AVIF is the same bytes and SSIM within 0.5 %: 320 px 52 -> 48 ms, 1-4 % less
# above. Pillow is imported by the first such render, as the cutout's libraries are.
_PILLOW_SAVES = {"jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}


def _pillow_encodes(fmt: str, quality: int) -> bool:
    # libavif's conversion to YUV rounds coarser than libheif's, which shows from Q 90 up (1 MP
    # photo at Q 95: mean error 0.93 against 0.70 levels at the same size): libheif keeps those
    return fmt in ("jpg", "webp") or (fmt == "avif" and quality < 90)


def _pillow_encode(picture: PIL.Image.Image, fmt: str, quality: int) -> bytes:
    options: dict[str, object]
    if fmt == "jpg":
        # optimised Huffman tables, and libvips' `auto` chroma: full from Q 90 up, halved below
        options = {"optimize": True, "subsampling": 0 if quality >= 90 else 2}
    elif fmt == "webp":
        options = {"method": 4}  # libvips' effort 4, no sharp YUV
    else:
        # speed 6 is libvips' effort 3 (chroma halved, as libvips does below Q 90); one thread,
        # as a render process has one core's share
        options = {"speed": 6, "max_threads": 1}
    out = io.BytesIO()
    picture.save(out, _PILLOW_SAVES[fmt], quality=quality, **options)
    return out.getvalue()


def _pillow_frame(pixels: bytes, width: int, height: int) -> PIL.Image.Image:
    from PIL import Image

    return Image.frombuffer("RGB", (width, height), pixels, "raw", "RGB", 0, 1)


def render(
    source: bytes | Path,
    source_format: str,
    spec: TransformSpec,
    *,
    original_size: tuple[int, int] | None = None,
    max_pixels: int = 100_000_000,
    max_output_side: int = 8192,
    max_output_pixels: int = 40_000_000,
    time_budget: float = 20.0,
) -> Rendered:
    """Render `source` (the stored bytes, or their path) through `spec`.

    `original_size` (width, height) says `source` is a working copy of an original that size:
    the output is planned against the original, then resized from the copy.

    Raises `RenderRefused` (with a short `reason`) for anything that cannot be rendered; never
    anything else for any input bytes.
    """
    deadline = _Deadline(time_budget)
    stored = source if isinstance(source, Path) else bytes(source)
    fmt = output_format(source_format, spec)
    limits = Limits(max_pixels, max_output_side, max_output_pixels)
    try:
        return _render(stored, fmt, spec, deadline, limits, original_size)
    except pyvips.Error as error:
        if "killed" in str(error) or time.monotonic() > deadline.at:
            raise RenderRefused("render time budget exceeded") from error
        raise RenderRefused("corrupt image") from error
    except (MemoryError, ValueError, OverflowError) as error:
        raise RenderRefused("cannot render image") from error


def _render(
    stored: bytes | Path,
    fmt: str,
    spec: TransformSpec,
    deadline: _Deadline,
    limits: Limits,
    original_size: tuple[int, int] | None,
) -> Rendered:
    source = _open(stored, limits.pixels)
    width, height = original_size or (source.width, source.height)
    if width * height > limits.pixels:
        raise RenderRefused("image has too many pixels")
    animated = (
        source.frames > 1
        and fmt in _ANIMATES
        and not spec.cutout  # the model sees stills: an animated cutout keeps the first frame
        and source.width * source.height * source.frames <= limits.pixels
    )
    frames = source.frames if animated else 1
    placed = layout(width, height, frames, spec, limits)
    geometry, upscale_crop = placed.geometry, placed.upscale_crop
    alpha_out = fmt in HAS_ALPHA
    deadline.check()
    quality = spec.q or DEFAULT_Q.get(fmt, 80)
    if not animated and _pillow_encodes(fmt, quality) and _encode_only(spec, geometry):
        # kept as stored: from Pillow's decoder straight to its encoder, no copy through libvips
        # (1 MP JPEG to a JPEG of its size: 24 -> 17 ms)
        picture = source.picture(*placed.load)
        if picture is not None:
            data = _pillow_encode(picture, fmt, quality)
            deadline.check()
            return Rendered(data, fmt, CONTENT_TYPES[fmt], picture.width, picture.height)
    image = source.scaled(*placed.load, animated=animated, working_copy=original_size is not None)
    image = _eight_bit(image)
    if animated and _has_frame_steps(spec, geometry):
        image = _each_frame(image, frames, spec, geometry, deadline, alpha_out, upscale_crop)
    elif not animated:
        image = _frame(image, spec, geometry, deadline, alpha_out, upscale_crop=upscale_crop)
    deadline.check()
    data_out = _save(deadline.watch(image), fmt, quality, still=not animated)
    deadline.check()  # an encoder cannot be stopped midway: a late result is still refused
    height = image.height // frames
    return Rendered(data_out, fmt, CONTENT_TYPES[fmt], image.width, height)


def make_working_copy(original: bytes | Path, fmt: str) -> WorkingCopy:
    """The working copy of a stored original (oriented, sRGB, no metadata: as ingest left it).
    CPU work: run it in a render process.

    Decoded as a variant's source is, so a JPEG twice the copy's size or more decodes at the
    DCT scale that still leaves the copy's pixels (libvips' thumbnail would decode it whole):
    24 MP photos 266 -> 223 ms (grainy) and 141 -> 108 ms (smooth), with variants from the
    copy as close to the original (mean difference at 640-2560 px within 0.25 levels)."""
    source = _open(original, max_pixels=2**31)  # its size was checked at upload
    image = source.scaled(*working_copy.size(source.width, source.height), animated=False)
    return _encoded_copy(image, fmt)


def working_copy_of_pixels(image: pyvips.Image, fmt: str) -> WorkingCopy:
    """The working copy of an original in `fmt` from its whole decoded pixels, in memory (a HEIC's
    at upload): what `make_working_copy` makes of the stored file, without decoding it."""
    width, height = working_copy.size(image.width, image.height)
    resized = pyvips.Image.thumbnail_image(image, width, height=height, size="force")
    return _encoded_copy(resized, fmt)


def _encoded_copy(image: pyvips.Image, fmt: str) -> WorkingCopy:
    """`image`, an original in `fmt` at its working copy's size, encoded as its copy."""
    copy_fmt = working_copy.copy_format(fmt, image.hasalpha())
    if copy_fmt == "jpg":
        # standard Huffman tables: optimising them tripled the encode (12 MP original: 46 ms
        # against 16, a third of the copy's cost) to save a few % of a file no one downloads
        data = image.jpegsave_buffer(Q=92, subsample_mode="on", keep=_KEEP_NONE)
    elif copy_fmt == "png":
        # zlib level 1, not 3: half the encode (12 MP photo: 209 -> 119 ms) and a faster decode
        # for every variant; a photo barely deflates either way, flat graphics still do
        data = image.pngsave_buffer(compression=1, keep=_KEEP_NONE)
    elif copy_fmt == "webp":
        # effort 2, not 4: half the encode (12 MP: 695 -> 319 ms) for the same bytes and the same
        # fidelity of the variants made from it (a file no one downloads needs no smaller size)
        data = image.webpsave_buffer(Q=92, effort=2, keep=_KEEP_NONE)
    else:
        data = image.heifsave_buffer(Q=90, compression="av1", effort=2, keep=_KEEP_NONE)
    return WorkingCopy(data, image.width, image.height, copy_fmt)


def _encode_only(spec: TransformSpec, geometry: Plan) -> bool:
    """Whether the resized pixels go to the encoder untouched."""
    return not spec.cutout and not _has_frame_steps(spec, geometry)


def _has_frame_steps(spec: TransformSpec, geometry: Plan) -> bool:
    """Whether anything beyond the resize (which thumbnail does per page) must touch pixels."""
    adjustments = (spec.rotate, spec.flip, spec.brightness, spec.contrast, spec.gamma)
    filters = (spec.saturation, spec.blur, spec.sharp, geometry.crop, geometry.canvas)
    return any(step is not None for step in (*adjustments, *filters))


def _each_frame(
    strip: pyvips.Image,
    frames: int,
    spec: TransformSpec,
    geometry: Plan,
    deadline: _Deadline,
    alpha_out: bool,
    upscale_crop: bool,
) -> pyvips.Image:
    """Run the per-frame steps on every page of an animation and stack them again."""
    strip = deadline.materialise(strip)
    page_height = strip.height // frames
    done = []
    for index in range(frames):
        if index % 64 == 0:
            deadline.check()
        frame = strip.extract_area(0, index * page_height, strip.width, page_height)
        done.append(_frame(frame, spec, geometry, deadline, alpha_out, upscale_crop=upscale_crop))
    joined = pyvips.Image.arrayjoin(done, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", done[0].height)
    for name in ("delay", "loop"):
        if strip.get_typeof(name):
            joined.set_type(strip.get_typeof(name), name, strip.get(name))
    return joined
