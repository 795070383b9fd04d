"""Upload ingest: what each accepted format becomes, and every refusal."""

from __future__ import annotations

import functools
import io
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgpro.errors import ApiError
from imgpro.media import ingest as ingest_module
from imgpro.media.formats import CONTENT_TYPES, sniff
from imgpro.media.ingest import Ingested, ingest
from tests.factories import images

MB = 1024 * 1024


@pytest.fixture
def upload(tmp_path: Path) -> Callable[..., Ingested]:
    """Ingest ``data`` written to a file called ``name``, with production limits unless given."""

    def run(data: bytes, name: str = "upload.bin", **limits: int) -> Ingested:
        source = tmp_path / name
        source.write_bytes(data)
        limits.setdefault("max_bytes", 70 * MB)
        return ingest(source, workdir=tmp_path / "work", **limits)

    return run


def refusal(error: pytest.ExceptionInfo[ApiError]) -> str:
    assert error.value.code == "validation_error"
    assert error.value.status == 422
    assert error.value.details is not None
    [message] = error.value.details["file"]
    return str(message)


def opened(path: Path) -> Image.Image:
    """The stored file, decoded by Pillow (and closed again)."""
    with Image.open(path) as stored:
        stored.load()
        return stored


def fields(path: Path) -> list[str]:
    return pyvips.Image.new_from_file(str(path)).get_fields()


@pytest.fixture
def vips_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, object]]]:
    """Every libvips operation ingest runs, by name with its options, as it runs."""
    calls: list[tuple[str, dict[str, object]]] = []
    call = pyvips.Operation.call

    def recorded(name: str, *args: object, **options: object) -> object:
        calls.append((name, options))
        return call(name, *args, **options)

    monkeypatch.setattr(pyvips.Operation, "call", staticmethod(recorded))
    return calls


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every pixel decode ingest starts, by who started it; each is stopped before it runs.

    A libvips loader only reads the header: its pixels are decoded by the first operation or
    copy that reads them. Every Pillow decode asks ``Image._getdecoder`` for its decoder. Ingest
    turns a decoder's failure into a refusal, so the record, not the exception, is the evidence.
    """
    started: list[str] = []
    call = pyvips.Operation.call

    def stop(what: str) -> None:
        started.append(what)
        raise AssertionError(f"{what}: a pixel decode started")

    def vips_operation(name: str, *args: object, **options: object) -> object:
        if not name.endswith(("load", "load_source")):
            stop(f"libvips {name}")
        return call(name, *args, **options)

    def pillow_decoder(mode: str, decoder_name: str, *args: object, **options: object) -> None:
        stop(f"Pillow {decoder_name} decoder")

    monkeypatch.setattr(pyvips.Operation, "call", staticmethod(vips_operation))
    for copy in ("copy_memory", "write_to_memory"):
        monkeypatch.setattr(pyvips.Image, copy, lambda *_, what=copy: stop(f"libvips {what}"))
    monkeypatch.setattr(Image, "_getdecoder", pillow_decoder)
    return started


METADATA = {"exif-data", "xmp-data", "iptc-data", "icc-profile-data", "orientation"}


# ---- sniffing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (images.jpeg(), "jpg"),
        (images.png(), "png"),
        (images.gif(), "gif"),
        (images.webp(), "webp"),
        (images.avif(), "avif"),
        (images.heic(), "heic"),
        (images.svg(), "svg"),
        (images.bmp(), "bmp"),
        (images.ico(), "ico"),
        (images.tiff(), None),
        (images.pdf(), None),
        (images.html(), None),
        (images.text_as_jpg(), None),
        (b"8BPS\x00\x01" + bytes(600), None),  # Photoshop
        (b"SIMPLE  =                    T" + b" " * 600, None),  # FITS
        (b"\x08\xf2\xa6\xb6" + bytes(600), None),  # vips native
        (b"2 2\n1 2\n3 4\n", None),  # vips matrix
        (b"1,2,3\n4,5,6\n", None),  # CSV
        (b"\x00\x00\x02\x00\x01\x00" + bytes(600), None),  # a cursor, not an icon
        (b"BM" + bytes(600), None),  # "BM" with no DIB header behind it
    ],
)
def test_sniff_names_the_format_from_magic_bytes_alone(data: bytes, kind: str | None) -> None:
    assert sniff(data[:8192]) == kind


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + bytes(512)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (_ftyp(b"avis", b"msf1"), "avif"),
        (_ftyp(b"mif1", b"avif"), "avif"),
        (_ftyp(b"heic", b"mif1"), "heic"),
        (_ftyp(b"heix"), "heic"),
        (_ftyp(b"mif1", b"heic"), "heic"),
        (_ftyp(b"msf1", b"hevc"), "heic"),
        (_ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (_ftyp(b"crx ", b"isom"), None),  # a Canon raw
    ],
)
def test_sniff_tells_avif_from_heic_by_brand(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    "preamble",
    [
        b"",
        b"\xef\xbb\xbf",
        b'\n  <?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
        b"<!-- Generator: Adobe Illustrator -->\n",
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n',
        b'<!DOCTYPE svg [ <!ENTITY ns "http://www.w3.org/2000/svg"> ]>',
    ],
)
def test_sniff_finds_svg_behind_its_preamble(preamble: bytes) -> None:
    assert sniff(preamble + b'<svg xmlns="http://www.w3.org/2000/svg"/>') == "svg"


def test_sniff_does_not_take_svg_inside_html_for_svg() -> None:
    assert sniff(b"<html><body><svg></svg></body></html>") is None
    assert sniff(b"<svgfoo/>") is None


# ---- accepted formats -----------------------------------------------------------------------


def test_a_plain_jpeg_is_kept_byte_for_byte(upload: Callable[..., Ingested]) -> None:
    data = images.jpeg(64, 48)
    result = upload(data, "photo.jpg")
    assert result.path.read_bytes() == data
    assert (result.format, result.content_type) == ("jpg", "image/jpeg")
    assert (result.width, result.height, result.bytes) == (64, 48, len(data))
    assert (result.animated, result.frames, result.transformable) == (False, 1, True)


def test_jpeg_exif_is_stripped(upload: Callable[..., Ingested], tmp_path: Path) -> None:
    data = images.jpeg(64, 48, exif=True)
    result = upload(data)
    assert result.path != tmp_path / "upload.bin"
    assert result.path.parent == tmp_path / "work"
    assert not METADATA & set(fields(result.path))
    assert b"imgpro-test-camera" not in result.path.read_bytes()
    assert (result.width, result.height, result.bytes) == (64, 48, result.path.stat().st_size)


def test_jpeg_metadata_is_stripped_without_reencoding(upload: Callable[..., Ingested]) -> None:
    data = images.jpeg(64, 48, exif=True)
    result = upload(data)
    # same entropy-coded scan, so the same pixels: nothing was decoded and encoded again
    scan = data[data.index(b"\xff\xda") :]
    assert result.path.read_bytes().endswith(scan)
    assert pyvips.Image.new_from_file(str(result.path)).avg() == (
        pyvips.Image.new_from_buffer(data, "").avg()
    )


def test_jpeg_orientation_is_applied(upload: Callable[..., Ingested]) -> None:
    result = upload(images.jpeg(64, 48, orientation=6))
    assert (result.width, result.height) == (48, 64)
    stored = opened(result.path)
    assert stored.size == (48, 64)
    assert not stored.getexif()
    # orientation 6 turns the stored picture a quarter clockwise: its red top-left corner lands
    # top right
    red, green, blue = stored.convert("RGB").getpixel((46, 1))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_cmyk_jpeg_becomes_srgb(upload: Callable[..., Ingested]) -> None:
    result = upload(images.cmyk_jpeg())
    stored = pyvips.Image.new_from_file(str(result.path))
    assert (stored.bands, stored.interpretation) == (3, "srgb")
    assert result.format == "jpg"


def test_a_colour_profile_is_converted_to_srgb_and_dropped(upload: Callable[..., Ingested]) -> None:
    result = upload(images.icc_jpeg())
    assert "icc-profile-data" not in fields(result.path)


def test_a_damaged_colour_profile_is_dropped_not_refused(upload: Callable[..., Ingested]) -> None:
    plain = images.jpeg()
    profile = b"ICC_PROFILE\x00\x01\x01" + b"garbage" * 40
    app2 = b"\xff\xe2" + struct.pack(">H", len(profile) + 2) + profile
    result = upload(plain[:2] + app2 + plain[2:])
    assert "icc-profile-data" not in fields(result.path)
    heic = io.BytesIO()
    images.picture().save(heic, "HEIF", icc_profile=b"garbage" * 40)
    assert upload(heic.getvalue()).format == "jpg"


@pytest.mark.parametrize(
    "options",
    [{}, {"alpha": True}, {"sixteen_bit": True}, {"grey": True}, {"grey": True, "alpha": True}],
)
def test_plain_pngs_are_kept_byte_for_byte(
    upload: Callable[..., Ingested], options: dict[str, bool]
) -> None:
    data = images.png(70, 30, **options)
    result = upload(data)
    assert result.path.read_bytes() == data
    assert (result.format, result.width, result.height, result.frames) == ("png", 70, 30, 1)


def test_png_text_and_exif_chunks_are_stripped(upload: Callable[..., Ingested]) -> None:
    result = upload(images.png_with_text())
    stored = result.path.read_bytes()
    assert b"tEXt" not in stored and b"eXIf" not in stored
    assert (result.format, result.width, result.height) == ("png", 64, 48)


def test_png_metadata_is_stripped_without_reencoding(upload: Callable[..., Ingested]) -> None:
    data = images.png_with_text()
    result = upload(data)
    stored = result.path.read_bytes()
    # the same compressed pixels, chunk for chunk: nothing was decoded and encoded again
    assert _chunk(stored, b"IDAT", png=True) == _chunk(data, b"IDAT", png=True)
    assert not METADATA & set(fields(result.path))


def test_png_with_a_chunk_of_unknown_use_is_reencoded(upload: Callable[..., Ingested]) -> None:
    data = images.png_with_text()
    private = b"prVt" + b"secret"
    chunk = len(b"secret").to_bytes(4, "big") + private + zlib.crc32(private).to_bytes(4, "big")
    iend = data.index(b"IEND") - 4
    result = upload(data[:iend] + chunk + data[iend:])
    stored = result.path.read_bytes()
    assert b"prVt" not in stored and b"tEXt" not in stored
    assert (result.width, result.height) == (64, 48)


def test_data_after_the_end_of_a_png_is_dropped(upload: Callable[..., Ingested]) -> None:
    result = upload(images.png() + b"<script>alert(1)</script>")
    assert b"script" not in result.path.read_bytes()


def test_gif_still_and_animated(upload: Callable[..., Ingested]) -> None:
    still = upload(images.gif(40, 30))
    assert (still.format, still.animated, still.frames) == ("gif", False, 1)
    data = images.gif(40, 30, frames=3)
    moving = upload(data)
    assert moving.path.read_bytes() == data
    assert (moving.width, moving.height, moving.animated, moving.frames) == (40, 30, True, 3)
    assert moving.transformable


def test_webp_still_animated_and_with_exif(upload: Callable[..., Ingested]) -> None:
    data = images.webp(40, 30, alpha=True)
    still = upload(data)
    assert still.path.read_bytes() == data
    assert (still.format, still.content_type, still.frames) == ("webp", "image/webp", 1)
    moving = upload(images.webp(40, 30, frames=3))
    assert (moving.width, moving.height, moving.animated, moving.frames) == (40, 30, True, 3)
    stripped = upload(images.webp(exif=True))
    assert b"EXIF" not in stripped.path.read_bytes()
    assert (stripped.width, stripped.height) == (64, 48)


def test_webp_metadata_is_stripped_without_reencoding(upload: Callable[..., Ingested]) -> None:
    data = images.webp(exif=True)
    result = upload(data)
    stored = result.path.read_bytes()
    assert _chunk(stored, b"VP8 ") == _chunk(data, b"VP8 ")  # the same compressed pixels
    assert not METADATA & set(fields(result.path))
    assert stored[4:8] == (len(stored) - 8).to_bytes(4, "little")  # the RIFF size fits
    vp8x = _chunk(stored, b"VP8X")
    assert vp8x is None or not vp8x[0] & 0x0C  # no flag announces a chunk that went


def test_an_animated_webp_keeps_its_frames_when_stripped(upload: Callable[..., Ingested]) -> None:
    data = images.webp(40, 30, frames=3, exif=True)
    assert b"EXIF" in data
    result = upload(data)
    assert b"EXIF" not in result.path.read_bytes()
    assert _chunk(result.path.read_bytes(), b"ANMF") == _chunk(data, b"ANMF")
    assert (result.width, result.height, result.frames, result.animated) == (40, 30, 3, True)


def _chunk(data: bytes, name: bytes, *, png: bool = False) -> bytes | None:
    """The payload of the first chunk called `name` in a PNG or a WebP (RIFF) file."""
    position = 8 if png else 12
    while position + 8 <= len(data):
        if png:
            size, found = (
                int.from_bytes(data[position : position + 4], "big"),
                data[position + 4 : position + 8],
            )
        else:
            found, size = (
                data[position : position + 4],
                int.from_bytes(data[position + 4 : position + 8], "little"),
            )
        if found == name:
            return data[position + 8 : position + 8 + size]
        position += 8 + size + (4 if png else size & 1)
    return None


def test_avif_plain_and_with_exif(upload: Callable[..., Ingested]) -> None:
    data = images.avif(40, 30)
    plain = upload(data)
    assert plain.path.read_bytes() == data
    assert (plain.format, plain.content_type, plain.transformable) == ("avif", "image/avif", True)
    assert (plain.width, plain.height) == (40, 30)
    stripped = upload(images.avif(40, 30, exif=True))
    assert stripped.format == "avif"
    assert "exif-data" not in fields(stripped.path)


def test_heic_becomes_a_clean_jpeg(upload: Callable[..., Ingested]) -> None:
    result = upload(images.heic(64, 48))
    assert (result.format, result.content_type, result.transformable) == ("jpg", "image/jpeg", True)
    assert result.path.suffix == ".jpg"
    stored = opened(result.path)
    assert stored.format == "JPEG" and stored.size == (64, 48)
    assert "exif" not in stored.info and "icc_profile" not in stored.info


def test_heic_rotation_is_applied(upload: Callable[..., Ingested]) -> None:
    result = upload(images.heic(64, 48, orientation=6))
    assert (result.width, result.height) == (48, 64)
    stored = opened(result.path)
    assert stored.size == (48, 64) and not stored.getexif()


def _heic(picture: Image.Image, **options: object) -> bytes:
    heic = io.BytesIO()
    picture.save(heic, "HEIF", quality=95, **options)
    return heic.getvalue()


def _uniform(colour: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (64, 48), colour)


def test_heic_colours_go_through_its_profile_into_srgb(upload: Callable[..., Ingested]) -> None:
    """A Display P3 orange is stored as the sRGB orange libvips makes of it through the same
    profile (within the JPEG's error), not as the same numbers in another colour space."""
    p3 = (
        pyvips.Image.black(8, 8, bands=3)
        .copy(interpretation="srgb")
        .icc_export(output_profile="p3")
    )
    profile = p3.get("icc-profile-data")
    colour = (230, 120, 40)
    result = upload(_heic(_uniform(colour), icc_profile=profile))
    pixel = (pyvips.Image.black(1, 1, bands=3) + list(colour)).cast("uchar")
    pixel.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    expected = pixel.icc_transform("srgb", embedded=True)(0, 0)
    stored = opened(result.path).getpixel((32, 24))
    assert "icc_profile" not in opened(result.path).info
    assert all(abs(a - b) <= 3 for a, b in zip(stored, expected, strict=True)), (stored, expected)
    assert max(abs(a - b) for a, b in zip(stored, colour, strict=True)) > 10


def test_heic_alpha_lies_on_white_and_grey_becomes_rgb(upload: Callable[..., Ingested]) -> None:
    clear = opened(upload(_heic(_uniform((200, 30, 30, 0), "RGBA"))).path)
    assert clear.mode == "RGB" and all(v >= 250 for v in clear.getpixel((32, 24)))
    grey = opened(upload(_heic(_uniform((90,), "L"))).path)
    assert grey.mode == "RGB" and all(abs(v - 90) <= 2 for v in grey.getpixel((32, 24)))


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [(images.bmp(50, 40), "bmp", (50, 40)), (images.ico(48, 48), "ico", (48, 48))],
)
def test_bmp_and_ico_are_kept_and_not_transformable(
    upload: Callable[..., Ingested], data: bytes, kind: str, size: tuple[int, int]
) -> None:
    result = upload(data)
    assert result.path.read_bytes() == data
    assert (result.format, result.content_type) == (kind, CONTENT_TYPES[kind])
    assert ((result.width, result.height), result.transformable) == (size, False)


def test_svg_is_sanitised_and_sized(upload: Callable[..., Ingested]) -> None:
    dirty = images.svg(120, 80).replace(b"<defs>", b"<script>alert(1)</script><defs>")
    result = upload(dirty)
    assert (result.format, result.content_type) == ("svg", "image/svg+xml")
    assert (result.width, result.height, result.transformable) == (120, 80, False)
    assert b"script" not in result.path.read_bytes()
    assert result.bytes == result.path.stat().st_size


def test_the_name_of_the_file_plays_no_part(upload: Callable[..., Ingested]) -> None:
    assert upload(images.png(), "photo.jpg").format == "png"
    assert upload(images.jpeg(), "drawing.svg").format == "jpg"


def test_a_plain_one_megabyte_jpeg_is_stored_as_uploaded_after_one_reduced_decode(
    upload: Callable[..., Ingested], vips_calls: list[tuple[str, dict[str, object]]]
) -> None:
    # what keeps a photo upload cheap: no copy, no encode, and the one full decode (the damage
    # check, which also makes the placeholder) at 1/8 scale
    data = images.jpeg(2600, 1950, quality=93)
    assert 0.8 * MB < len(data) < 1.3 * MB
    result = upload(data, "photo.jpg")
    assert result.path.name == "photo.jpg" and result.path.read_bytes() == data
    assert not [name for name, _ in vips_calls if "save" in name]
    loads = [options.get("shrink", 1) for name, options in vips_calls if name == "jpegload"]
    assert loads == [1, 8]  # the header, then every pixel at 1/8 scale


# ---- refusals ------------------------------------------------------------------------------------

NOT_AN_IMAGE = ingest_module.NOT_AN_IMAGE


def test_an_empty_file_is_refused(upload: Callable[..., Ingested]) -> None:
    with pytest.raises(ApiError) as error:
        upload(b"", "photo.jpg")
    assert "empty" in refusal(error)


@pytest.mark.parametrize(
    "data",
    [images.text_as_jpg(), images.tiff(), images.pdf(), images.html(), b"\xff\xd8"],
    ids=["text", "tiff", "pdf", "html", "two-bytes"],
)
def test_files_that_are_not_supported_images_are_refused(
    upload: Callable[..., Ingested], data: bytes
) -> None:
    with pytest.raises(ApiError) as error:
        upload(data, "photo.jpg")
    assert refusal(error) == NOT_AN_IMAGE


def test_no_decoder_ever_sees_an_unsupported_file(
    upload: Callable[..., Ingested], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decoder was handed an unsupported file")

    for name in ("new_from_file", "new_from_buffer", "tiffload", "pdfload", "matrixload"):
        monkeypatch.setattr(pyvips.Image, name, forbidden, raising=False)
    monkeypatch.setattr(Image, "open", forbidden)
    for data in (images.tiff(), images.pdf(), images.html(), b"2 2\n1 2\n3 4\n"):
        with pytest.raises(ApiError):
            upload(data)


def test_a_truncated_jpeg_is_refused(upload: Callable[..., Ingested]) -> None:
    with pytest.raises(ApiError) as error:
        upload(images.truncated_jpeg())
    assert "damaged or incomplete" in refusal(error)


def test_the_png_bomb_is_refused_from_its_header(
    upload: Callable[..., Ingested], decodes: list[str]
) -> None:
    bomb = images.png_bomb(20000, 20000)
    assert len(bomb) < 200 * 1024
    with pytest.raises(ApiError) as error:
        upload(bomb)
    assert decodes == []
    assert refusal(error) == (
        "The image is 400 megapixels (20000×20000); the limit is 100 megapixels."
    )


@pytest.mark.parametrize(
    ("data", "decoder"),
    [(images.png(), "libvips"), (images.bmp(), "Pillow"), (images.ico(), "Pillow")],
    ids=["png", "bmp", "ico"],
)
def test_the_decode_guard_stops_the_decode_of_an_image_within_the_limit(
    upload: Callable[..., Ingested], decodes: list[str], data: bytes, decoder: str
) -> None:
    # the guard the refusals above are checked with sees the decodes ingest really makes
    with pytest.raises((ApiError, AssertionError)):
        upload(data)
    assert decodes and decodes[0].startswith(decoder)


def test_an_animation_counts_every_frame(upload: Callable[..., Ingested]) -> None:
    data = images.gif(100, 100, frames=4)
    assert upload(data, max_pixels=40_000).frames == 4
    with pytest.raises(ApiError) as error:
        upload(data, max_pixels=39_999)
    assert refusal(error).startswith("The animation is 0.1 megapixels over 4 frames")


def _bmp_header(width: int, height: int) -> bytes:
    """A BMP that declares an 8-bit RLE image of ``width`` × ``height`` and holds no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, 0, 2835, 2835, 256, 0)
    palette = bytes(1024)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + 2, 0, 0, offset) + info + palette + b"\x00\x01"


def _ico_with(icon: bytes) -> bytes:
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(icon), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + icon


@pytest.mark.parametrize(
    "data",
    [
        _bmp_header(20000, 20000),
        _ico_with(images.png_bomb(20000, 20000)),
        _ico_with(_bmp_header(20000, 40000)[14:]),
        _ico_with(images.png_bomb(11000, 11000)),  # under Pillow's own bomb limit
    ],
    ids=["bmp-rle", "ico-with-png", "ico-with-dib", "ico-with-121-mp"],
)
def test_pillow_formats_are_refused_over_the_pixel_limit_undecoded(
    upload: Callable[..., Ingested], decodes: list[str], data: bytes
) -> None:
    with pytest.raises(ApiError) as error:
        upload(data)
    assert decodes == []
    assert "the limit is 100 megapixels" in refusal(error)


def test_an_svg_over_the_svg_limit_is_refused(upload: Callable[..., Ingested]) -> None:
    data = images.svg()
    assert upload(data, max_svg_bytes=len(data)).format == "svg"
    with pytest.raises(ApiError) as error:
        upload(data, max_svg_bytes=len(data) - 1)
    assert refusal(error).startswith("The SVG is ")


def test_a_file_over_max_bytes_is_refused(upload: Callable[..., Ingested]) -> None:
    data = images.jpeg()
    assert upload(data, max_bytes=len(data)).format == "jpg"
    with pytest.raises(ApiError) as error:
        upload(data, max_bytes=1024)
    assert refusal(error) == "The file is 1.5 KB; the limit is 1 KB."


@pytest.mark.parametrize(
    "data",
    [
        images.png()[:-30],
        images.webp()[:-40],
        images.gif(frames=3)[:1000],
        images.avif()[:-100],
        images.heic()[:-200],
        images.bmp()[:-500],
        images.ico()[:-300],
        images.jpeg(exif=True)[:-300],
    ],
    ids=["png", "webp", "gif", "avif", "heic", "bmp", "ico", "jpeg-exif"],
)
def test_truncated_files_of_every_format_are_refused(
    upload: Callable[..., Ingested], data: bytes
) -> None:
    with pytest.raises(ApiError) as error:
        upload(data)
    assert "damaged or incomplete" in refusal(error)


def test_a_gif_cut_between_frames_keeps_the_whole_frames(upload: Callable[..., Ingested]) -> None:
    # libvips' GIF decoder (like browsers) shows what arrived; the stored file is kept as it is
    data = images.gif(frames=3)
    assert upload(data[: len(data) // 2]).frames == 2


# ---- arbitrary input: an Ingested or a 422, never anything else ----------------------------------


@functools.cache
def _seeds() -> tuple[bytes, ...]:
    return (
        images.jpeg(48, 32),
        images.jpeg(48, 32, orientation=8, exif=True),
        images.cmyk_jpeg(32, 24),
        images.png(32, 24, alpha=True),
        images.png_with_text(32, 24),
        images.gif(32, 24, frames=2),
        images.webp(32, 24),
        images.webp(32, 24, frames=2),
        images.avif(32, 24),
        images.heic(32, 24),
        images.bmp(32, 24),
        images.ico(32, 32),
        images.svg(32, 24),
    )


def _ingest_anything(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "upload"
        source.write_bytes(data)
        try:
            result = ingest(
                source, workdir=Path(folder) / "work", max_bytes=MB, max_pixels=4_000_000
            )
        except ApiError as error:
            assert error.code == "validation_error" and error.details
            return
        assert isinstance(result, Ingested)
        assert result.width > 0 and result.height > 0 and result.bytes > 0


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAGIC = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1avifmiaf",
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    b"BM\x00\x01\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00",
    b"<svg>",
]


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_ingested_or_refused(data: bytes) -> None:
    _ingest_anything(data)


@FUZZ
@given(st.sampled_from(MAGIC), st.binary(max_size=4096))
def test_arbitrary_bytes_behind_magic_are_ingested_or_refused(magic: bytes, rest: bytes) -> None:
    _ingest_anything(magic + rest)


@FUZZ
@given(
    st.integers(0, len(_seeds()) - 1),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    st.floats(0.05, 1),
)
def test_damaged_images_are_ingested_or_refused(
    which: int, flips: list[tuple[float, int]], keep: float
) -> None:
    data = bytearray(_seeds()[which])
    for where, value in flips:
        data[int(where * len(data))] = value
    _ingest_anything(bytes(data[: max(1, int(len(data) * keep))]))
