"""The renderer: properties of the output over a matrix of stored sources × parameters, plus the
hostile inputs a CDN meets (bombs, corrupt blobs, huge frame counts, slow renders)."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from imgpro.media.geometry import fits_working_copy
from imgpro.media.outputs import RenderRefused
from imgpro.media.render import render
from imgpro.media.transform import named_size, parse
from tests.factories import images as make
from tests.factories import sources

MAGIC = {
    "jpg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    "gif": lambda data: data[:6] in (b"GIF87a", b"GIF89a"),
    "webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "avif": lambda data: data[4:12] == b"ftypavif",
}

# name -> (stored bytes, stored format, displayed width, height, frames, has alpha)
SOURCES = {
    "jpeg": (make.jpeg(400, 300, exif=True), "jpg", 400, 300, 1, False),
    "jpeg-exif6": (sources.oriented_jpeg(300, 400, orientation=6), "jpg", 300, 400, 1, False),
    "cmyk-jpeg": (make.cmyk_jpeg(300, 200), "jpg", 300, 200, 1, False),
    "grey-jpeg": (sources.grey_jpeg(300, 200), "jpg", 300, 200, 1, False),
    "png-alpha": (make.png(300, 200, alpha=True), "png", 300, 200, 1, True),
    "png-16bit": (make.png(300, 200, alpha=True, sixteen_bit=True), "png", 300, 200, 1, True),
    "png-grey": (make.png(300, 200, grey=True), "png", 300, 200, 1, False),
    "gif-animated": (make.gif(120, 80, frames=4), "gif", 120, 80, 4, False),
    "webp-animated-alpha": (make.webp(120, 80, frames=3, alpha=True), "webp", 120, 80, 3, True),
    "avif": (make.avif(160, 120), "avif", 160, 120, 1, False),
    "heic": (make.heic(160, 120), "heic", 160, 120, 1, False),
}  # fmt: skip

QUERIES = [
    "",
    "w=100",
    "h=50&format=png",
    "w=90&h=90&fit=cover&gravity=auto&format=webp",
    "w=500&h=300&fit=pad&bg=transparent&format=png",
    "w=50&h=50&fit=crop&gravity=southeast&format=avif",
    "w=400&fit=contain&format=gif",
    "size=s&format=jpg",
    "size=social&format=webp",
    "rotate=90&flip=hv&brightness=1.2&contrast=1.3&gamma=2&saturation=0&blur=3&sharp=1&q=40",
]


def expected_size(width: int, height: int, query: str) -> tuple[int, int]:
    """Independent arithmetic for the geometry of each query in QUERIES."""
    spec = parse(query)
    if spec.size:
        return named_size(width, height, spec.size)
    if spec.fit in ("cover", "pad") or (spec.fit == "crop" and width >= 50 and height >= 50):
        return spec.w, spec.h  # type: ignore[return-value]
    if spec.fit == "crop":
        return min(width, 50), min(height, 50)
    if spec.rotate == 90:
        return height, width
    if spec.w and spec.fit == "contain":
        return spec.w, round(height * spec.w / width)
    if spec.w:
        return min(spec.w, width), round(height * min(spec.w, width) / width)
    if spec.h:
        return round(width * min(spec.h, height) / height), min(spec.h, height)
    return width, height


def decode(data: bytes) -> pyvips.Image:
    animated = data[:3] == b"GIF" or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    return pyvips.Image.new_from_buffer(data, "n=-1" if animated else "")


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("name", SOURCES)
def test_output_properties(name, query):
    data, stored_format, width, height, frames, alpha = SOURCES[name]
    spec = parse(query)
    result = render(data, stored_format, spec)

    fmt = spec.format or ("jpg" if stored_format == "heic" else stored_format)
    assert result.format == fmt
    assert MAGIC[fmt](result.data), result.data[:16]
    assert result.content_type == {"jpg": "image/jpeg"}.get(fmt, f"image/{fmt}")
    assert (result.width, result.height) == expected_size(width, height, query)

    out = decode(result.data)
    pages = out.get("n-pages") if out.get_typeof("n-pages") else 1  # a still has no n-pages
    assert out.width == result.width
    assert out.get("page-height") if pages > 1 else out.height == result.height
    if frames > 1 and fmt in ("gif", "webp"):  # encoders may merge frames that became equal
        assert pages > 1 and sum(out.get("delay")) == frames * 80
    else:
        assert pages == 1
    for field in ("exif-data", "xmp-data", "iptc-data", "icc-profile-data"):
        assert not out.get_typeof(field), field
    assert b"imgpro-test-camera" not in result.data
    if fmt == "jpg":
        assert out.bands in (1, 3)
    if fmt in ("png", "webp") and ((alpha and spec.fit != "pad") or "transparent" in query):
        assert out.hasalpha()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    """The red quadrant of the displayed picture stays top-left whatever orientation stored it."""
    data = sources.oriented_jpeg(200, 120, orientation=orientation)
    for query in ("", "w=100", "format=png&h=60"):
        result = render(data, "jpg", parse(query))
        pixels = decode(result.data).numpy()
        h, w = pixels.shape[:2]
        assert w > h, (orientation, query)
        top_left = pixels[h // 16, w // 16]
        bottom_right = pixels[h - h // 8, w - w // 8]
        assert top_left[0] > 180 and top_left[1] < 80, (orientation, query, top_left)
        assert not (bottom_right[0] > 180 and bottom_right[1] < 80), (orientation, query)


@pytest.fixture(scope="module")
def large_photo() -> bytes:
    noise = pyvips.Image.gaussnoise(4000, 3000, mean=128, sigma=30)
    return noise.cast("uchar").colourspace("srgb").jpegsave_buffer(Q=80)


@pytest.mark.parametrize("query", ["rotate=90", "rotate=270&flip=h", "rotate=180", "flip=v"])
def test_rotations_of_a_large_photo_read_out_of_order_safely(large_photo, query):
    # libvips loads shrink-on-load JPEGs sequentially; a quarter turn reads them column-wise
    assert render(large_photo, "jpg", parse(query + "&w=530&format=webp")).width == 530


def test_rotate_applies_after_exif_orientation():
    data = sources.oriented_jpeg(200, 120, orientation=6)
    result = render(data, "jpg", parse("rotate=90"))
    pixels = decode(result.data).numpy()
    assert (result.width, result.height) == (120, 200)
    assert pixels[200 // 16, 120 - 120 // 16][0] > 180  # clockwise: red is now top-right


def test_alpha_is_kept_or_flattened_on_bg():
    data = sources.half_transparent_png(200, 100)
    kept = decode(render(data, "png", parse("w=100")).data).numpy()
    assert kept.shape[2] == 4 and kept[25, 10, 3] == 255 and kept[25, 90, 3] == 0
    white = decode(render(data, "png", parse("w=100&format=jpg")).data).numpy()
    assert white.shape[2] == 3 and white[25, 90].min() > 245
    red = decode(render(data, "png", parse("format=jpg&bg=ff0000")).data).numpy()
    assert red[50, 180][0] > 240 and red[50, 180][1:].max() < 20


def test_pad_uses_bg_and_gravity():
    data = make.jpeg(200, 100)
    query = "w=200&h=200&fit=pad&bg=0000ff&gravity=north&format=png"
    pixels = decode(render(data, "jpg", parse(query)).data).numpy()
    assert pixels.shape[:2] == (200, 200)
    assert tuple(pixels[190, 100][:3]) == (0, 0, 255)  # padding below the picture
    assert pixels[5, 10][0] > 180  # picture at the top


def test_scale_down_never_enlarges_and_cover_does():
    data = make.jpeg(200, 100)
    assert render(data, "jpg", parse("w=1000")).width == 200
    assert (render(data, "jpg", parse("w=1000&h=1000&fit=cover")).width) == 1000


def test_tall_thin_image_is_capped():
    image = pyvips.Image.black(1, 50_000).copy(interpretation="b-w") + 128
    data = image.cast("uchar").pngsave_buffer()
    result = render(data, "png", parse(""))
    assert (result.width, result.height) == (1, 8192)
    cover = render(data, "png", parse("w=4000&h=4000&fit=cover"))
    assert (cover.width, cover.height) == (4000, 4000)


def test_huge_requests_are_capped_to_the_output_budget():
    data = make.jpeg(400, 300)
    result = render(data, "jpg", parse("w=8192&h=8192&fit=pad"), max_output_pixels=4_000_000)
    assert result.width == result.height and result.width * result.height <= 4_000_000
    assert render(data, "jpg", parse("w=100000&dpr=100")).width == 400  # both invalid: ignored


def test_pixel_bomb_is_refused_before_decoding():
    with pytest.raises(RenderRefused) as refused:
        render(make.png_bomb(), "png", parse("w=100"))
    assert "pixels" in refused.value.reason


@pytest.mark.parametrize(
    "blob",
    [
        sources.corrupt_jpeg(),
        make.truncated_jpeg(),
        b"",
        b"not an image at all",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"II*\x00" + b"\x00" * 100,  # TIFF: not a stored raster format
    ],
)
def test_corrupt_or_foreign_blobs_are_refused_and_the_worker_lives_on(blob):
    with pytest.raises(RenderRefused):
        render(blob, "jpg", parse("w=100&format=webp"))
    assert render(make.jpeg(40, 30), "jpg", parse("w=20")).width == 20


def test_many_frames_count_against_the_pixel_budget(tmp_path: Path):
    frames = [Image.new("RGB", (40, 40), (i % 256, 0, 0)) for i in range(5000)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=20)
    path = tmp_path / "long.gif"
    path.write_bytes(out.getvalue())
    animated = decode(render(path, "gif", parse("w=20&format=webp")).data)
    # the encoder merges repeated frames into longer ones: the running time is what must survive
    assert animated.get("n-pages") > 1 and sum(animated.get("delay")) == 5000 * 20
    # over the budget as an animation (5000 × 1600 px): the first frame still loads
    still = render(path, "gif", parse("w=20&format=webp"), max_pixels=1_000_000)
    assert not decode(still.data).get_typeof("n-pages")


@pytest.mark.parametrize("name", ["jpeg", "png-alpha", "gif-animated", "avif", "heic"])
def test_a_stored_file_renders_as_its_bytes_do(tmp_path: Path, name: str):
    data, fmt, *_ = SOURCES[name]
    path = tmp_path / "original[shrink=8]"  # a name is never parsed for loader options
    path.write_bytes(data)
    for query in ("w=100&format=webp", "w=60&h=60&fit=cover&format=png"):
        assert render(path, fmt, parse(query)).data == render(data, fmt, parse(query)).data


def test_a_file_deleted_before_its_render_is_gone_not_corrupt(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        render(tmp_path / "deleted.jpg", "jpg", parse("w=20"))


def _grainy_photo() -> bytes:
    shading = pyvips.Image.gaussnoise(40, 30, sigma=40, mean=128, seed=1).resize(16)
    grain = pyvips.Image.gaussnoise(640, 480, sigma=8, mean=0, seed=2)
    photo = shading.extract_area(0, 0, 640, 480).bandjoin([shading, shading * 0.8]) + grain
    data: bytes = photo.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=90)
    return data


@pytest.mark.parametrize(
    "query",
    ["w=320&format=avif&q=55", "format=avif", "w=200&format=avif&q=95", "w=200&format=avif&bg=00f"],
)
def test_an_avif_variant_is_as_compact_and_faithful_as_libvips_encoding(query: str):
    """thumbor writes AVIF through Pillow (libavif, libaom speed 6), and so does imgpro for a
    still RGB AVIF below q 90 (cheaper than libheif's encode), libheif above: either way the
    file is within 2 % of libvips' own encode of the PNG variant's pixels, as faithful to them,
    and never the 40-65 % larger file of libaom's faster speed 7."""
    data = _grainy_photo()
    ours = render(data, "jpg", parse(query)).data
    lossless = render(data, "jpg", parse(query.replace("format=avif", "format=png"))).data
    pixels = decode(lossless)
    quality = parse(query).q or 55
    libvips = pixels.heifsave_buffer(Q=quality, compression="av1", effort=3, keep="none")
    assert abs(len(ours) - len(libvips)) <= len(libvips) * 0.02
    error, libvips_error = ((decode(out) - pixels).abs().avg() for out in (ours, libvips))
    assert error <= libvips_error * 1.05


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("jpeg", "w=200&format=webp"),
        ("jpeg", "w=333&format=webp&q=40&sharp=1"),
        ("cmyk-jpeg", "format=webp&q=95"),
        ("grey-jpeg", "w=150&format=webp"),
        ("png-alpha", "w=120&format=webp"),
        ("png-16bit", "w=100&format=webp&bg=ff0000"),
    ],
)
def test_a_webp_variant_is_libvips_webp_encoding_of_the_same_pixels(name: str, query: str):
    """Still RGB WebPs are encoded by Pillow's libwebp (cheaper), others by libvips: either
    way the file is what libvips' own encoder makes from the pixels the PNG variant holds (the
    same bytes while both wheels carry one libwebp; a release of either may move a byte)."""
    stored, fmt = SOURCES[name][:2]
    ours = render(stored, fmt, parse(query)).data
    lossless = render(stored, fmt, parse(query.replace("format=webp", "format=png")))
    pixels = pyvips.Image.new_from_buffer(lossless.data, "")
    libvips = pixels.webpsave_buffer(Q=parse(query).q or 80, keep="none")
    assert abs(len(ours) - len(libvips)) <= len(libvips) // 100
    assert (decode(ours) - decode(libvips)).abs().max() <= 2


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("jpeg", "w=200&format=jpg"),
        ("jpeg", "w=333&format=jpg&q=89"),  # chroma halved below q 90 ...
        ("jpeg", "w=151&format=jpg&q=90"),  # ... and kept whole from 90 up
        ("jpeg", "w=97&format=jpg&q=1"),
        ("cmyk-jpeg", "format=jpg&q=100"),
        ("grey-jpeg", "w=150&format=jpg"),  # one band: libvips encodes it
        ("jpeg-exif6", "w=120&rotate=90&format=jpg"),
        ("heic", "format=jpg"),
    ],
)
def test_a_jpeg_variant_decodes_to_what_libvips_encoder_makes_of_the_same_pixels(
    name: str, query: str
):
    """Still RGB JPEGs are encoded by Pillow's libjpeg-turbo (cheaper), others by libvips:
    either way the file decodes to exactly what libvips' own encoder, at its default chroma
    subsampling, makes from the pixels the PNG variant holds."""
    stored, fmt = SOURCES[name][:2]
    ours = render(stored, fmt, parse(query)).data
    lossless = render(stored, fmt, parse(query.replace("format=jpg", "format=png")))
    pixels = pyvips.Image.new_from_buffer(lossless.data, "")
    libvips = pixels.jpegsave_buffer(Q=parse(query).q or 80, optimize_coding=True, keep="none")
    assert abs(len(ours) - len(libvips)) <= 64  # Pillow adds a JFIF header
    assert decode(ours).bands == decode(libvips).bands
    assert (decode(ours) - decode(libvips)).abs().max() == 0


@pytest.mark.parametrize(
    ("size", "query", "shrink"),
    [
        ((400, 300), "format=png", 1),
        ((400, 300), "w=250&format=png", 1),  # 1.6× smaller: decoded whole, then resized
        ((400, 300), "w=200&format=png", 2),
        ((400, 300), "w=90&format=png", 4),
        ((402, 301), "w=100&format=png", 4),  # a partial last block: libvips drops it
        ((402, 301), "w=40&format=png", 8),
    ],
)
def test_an_upright_jpeg_renders_the_pixels_libvips_decodes(
    size: tuple[int, int], query: str, shrink: int
):
    """An upright JPEG with no colour profile is decoded by Pillow's libjpeg-turbo (cheaper) at
    the DCT scale libvips' loader would use: the pixels are exactly those of libvips' decode,
    resized by libvips."""
    stored = make.jpeg(*size, exif=True)
    ours = decode(render(stored, "jpg", parse(query)).data)
    loaded = pyvips.Image.jpegload_buffer(stored, shrink=shrink)
    width = parse(query).w or size[0]
    height = round(size[1] * width / size[0])
    expected = pyvips.Image.thumbnail_image(loaded, width, height=height, size="force")
    assert (ours.width, ours.height, ours.bands) == (expected.width, expected.height, 3)
    assert (ours - expected).abs().max() == 0


def test_a_working_copy_renders_as_libvips_thumbnail_decodes_it():
    """From a working copy libvips decodes (at the DCT scale that leaves the resize a factor of
    four, else at the one its thumbnail picks): the pixels are its own."""
    original = make.jpeg(1600, 1200)
    copy = pyvips.Image.thumbnail_buffer(original, 800).jpegsave_buffer(Q=92)
    for width, shrink in ((100, 2), (200, 2), (400, 1)):
        spec = parse(f"w={width}&format=png")
        ours = decode(render(copy, "jpg", spec, original_size=(1600, 1200)).data)
        loaded = pyvips.Image.jpegload_buffer(copy, shrink=shrink)
        expected = pyvips.Image.thumbnail_image(loaded, width, height=width * 3 // 4, size="force")
        assert (ours - expected).abs().max() == 0


def _jpeg_with_metadata() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x0112] = 1  # Orientation: upright
    picture = Image.open(io.BytesIO(make.jpeg(300, 200))).convert("RGB")
    picture.save(out, "JPEG", quality=90, exif=exif, comment=b"shot at home, 2 Elm St")
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jpg", "webp", "avif"])
@pytest.mark.parametrize(
    "stored", [_jpeg_with_metadata(), make.webp(300, 200, exif=True)], ids=["jpeg", "webp"]
)
def test_a_still_kept_at_its_size_is_the_encoders_file_of_its_pixels(stored: bytes, fmt: str):
    """An upright still with no profile and nothing to do but change format goes from Pillow's
    decoder straight to its encoder: the file is what the same encoder makes of the pixels the
    PNG variant holds, and carries none of the source's metadata (camera, comment)."""
    source_format = "jpg" if stored[:2] == b"\xff\xd8" else "webp"
    ours = render(stored, source_format, parse(f"format={fmt}"))
    pixels = Image.open(io.BytesIO(render(stored, source_format, parse("format=png")).data))
    expected = io.BytesIO()
    options = {"jpg": {"optimize": True}, "webp": {"method": 4}, "avif": {"max_threads": 1}}
    quality = {"jpg": 80, "webp": 80, "avif": 55}[fmt]
    kind = {"jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[fmt]
    pixels.save(expected, kind, quality=quality, **options[fmt])
    assert ours.data == expected.getvalue()
    assert (ours.width, ours.height) == (300, 200)
    written = Image.open(io.BytesIO(ours.data))
    assert not {"exif", "comment", "xmp", "icc_profile"} & set(written.info)
    assert b"Camera Maker" not in ours.data and b"Elm St" not in ours.data


@pytest.mark.parametrize("query", ["format=webp", "format=png", "w=100&format=jpg"])
def test_a_truncated_upright_jpeg_is_refused_as_corrupt_at_any_size(query: str):
    """Pillow's decoder meets the cut-off data libvips' header read let through: a refusal,
    never a crash, and the next render is unharmed."""
    with pytest.raises(RenderRefused) as refused:
        render(make.truncated_jpeg(), "jpg", parse(query))
    assert refused.value.reason == "corrupt image"
    assert render(make.jpeg(320, 240), "jpg", parse(query)).width in (100, 320)


def test_a_damaged_still_webp_at_its_own_size_is_refused_as_corrupt():
    """Pillow's decoder meets the bytes libvips' header read let through: a damaged frame is a
    refusal, never a crash, and the next render is unharmed."""
    whole = make.webp(300, 200)
    # the VP8 frame tag (bytes 20-22) claims a first partition longer than the file: the
    # header (its size at bytes 26-29) still reads, the frame does not decode
    damaged = whole[:21] + b"\xff" + whole[22:]
    with pytest.raises(RenderRefused) as refused:
        render(damaged, "webp", parse("format=png"))
    assert refused.value.reason == "corrupt image"
    with pytest.raises(RenderRefused):  # as libvips refuses it at any other size
        render(damaged, "webp", parse("w=100&format=png"))
    assert render(whole, "webp", parse("format=png")).width == 300


def _webp_like(source: pyvips.Image, **options: object) -> bytes:
    return source.webpsave_buffer(Q=85, **options)


@pytest.mark.parametrize(
    ("webp", "query"),
    [
        (lambda: make.webp(300, 200), "format=png"),
        (lambda: make.webp(300, 200, alpha=True), "format=png"),
        (lambda: _webp_like(decode(make.png(300, 200, alpha=True)), lossless=True), "format=png"),
        (lambda: make.webp(300, 200), "w=300&format=jpg&q=95"),
        (lambda: make.webp(300, 200), "w=150&format=png"),  # libvips decodes it smaller
        (lambda: _webp_like(decode(make.icc_jpeg(300, 200)), keep="icc"), "format=png"),
        (lambda: _webp_like(decode(make.jpeg(200, 300, orientation=6)), keep="exif"), "format=png"),
    ],
    ids=["lossy", "alpha", "lossless-alpha", "to-jpeg", "smaller", "p3-profile", "exif-6"],
)
def test_a_still_webp_renders_what_libvips_makes_of_it(webp: Callable[[], bytes], query: str):
    """A still WebP kept at its size is decoded by Pillow's libwebp (cheaper); a smaller one,
    a rotated one or one with a colour profile by libvips: the pixels are libvips' either way
    (oriented, in sRGB, alpha kept) to within a level of rounding."""
    data = webp()
    ours = decode(render(data, "webp", parse(query)).data)
    spec = parse(query)
    libvips = pyvips.Image.thumbnail_buffer(data, spec.w or 10_000, size="down")
    if spec.format == "jpg":
        libvips = decode(libvips.jpegsave_buffer(Q=95, optimize_coding=True))
    assert (ours.width, ours.height, ours.bands) == (libvips.width, libvips.height, libvips.bands)
    assert (ours - libvips).abs().max() <= 1


def test_time_budget_stops_a_slow_render():
    data = make.jpeg(2000, 2000)
    with pytest.raises(RenderRefused) as refused:
        render(data, "jpg", parse("blur=250&sharp=10&format=png"), time_budget=0.05)
    assert "time" in refused.value.reason


def test_renders_in_parallel_threads():
    data = make.jpeg(600, 400)
    queries = [f"w={w}&format={fmt}" for w in (100, 200, 300) for fmt in ("jpg", "webp", "png")]
    with ThreadPoolExecutor(6) as pool:
        widths = list(pool.map(lambda q: render(data, "jpg", parse(q)).width, queries * 3))
    assert widths == [int(q.split("&")[0][2:]) for q in queries * 3]


def test_saturation_zero_is_grey():
    pixels = decode(render(make.jpeg(100, 100), "jpg", parse("saturation=0&format=png")).data)
    array = pixels.numpy().astype(int)
    assert np.abs(array[..., 0] - array[..., 1]).max() <= 2


@pytest.mark.parametrize(
    ("query", "fits"),
    [
        ("w=640", True),
        ("w=1000&h=1000&fit=cover", True),  # 1500×1000 loaded, then cut
        ("h=1000&rotate=90", True),  # 1000×1500 displayed = 1500×1000 loaded
        ("w=1600&rotate=90", False),  # 1600×2400 displayed = 2400×1600 loaded
        ("w=1000&dpr=2", True),  # 2000×1333: exactly the copy
        ("w=1100&dpr=2", False),
        ("w=2000&h=2000&fit=crop", False),  # no enlarging: 3000×2000 loaded
        ("w=5000&h=100&fit=cover", False),  # an enlarging crop loads the whole original
        ("size=l", True),  # short side 1080
        ("size=social", True),
    ],
)
def test_a_variant_fits_a_working_copy_when_it_needs_no_more_pixels(query: str, fits: bool):
    assert fits_working_copy((3000, 2000), (2000, 1333), parse(query)) is fits


def test_a_working_copy_renders_with_the_originals_geometry() -> None:
    original = make.jpeg(900, 600)
    copy = pyvips.Image.new_from_buffer(original, "").resize(0.5).jpegsave_buffer(Q=95)
    for query in ("w=200&h=200&fit=cover&gravity=west", "w=400&h=100&fit=pad", "size=s"):
        spec = parse(query)
        a, b = render(original, "jpg", spec), render(copy, "jpg", spec, original_size=(900, 600))
        assert (a.width, a.height) == (b.width, b.height)
        red = [np.asarray(Image.open(io.BytesIO(r.data)))[2, 2] for r in (a, b)]
        assert abs(int(red[0][0]) - int(red[1][0])) < 12, query  # the same corner is kept


def test_a_variant_from_a_working_copy_keeps_the_copys_fine_detail() -> None:
    # a zone plate: detail at every frequency up to the copy's last pixel, as a copy made by a
    # Lanczos downscale has; a 1/8 DCT decode straight to the output aliased it (error ~6.7)
    y, x = np.mgrid[0:1200, 0:1600].astype(np.float32)
    radius2 = ((x - 800) ** 2 + (y - 600) ** 2) / 1600.0
    plane = (127.5 + 127 * np.cos(np.pi * radius2 / 2.0)).astype(np.uint8)
    pixels = pyvips.Image.new_from_array(np.dstack([plane] * 3)).copy(interpretation="srgb")
    copy = pixels.jpegsave_buffer(Q=92)
    decoded = pyvips.Image.new_from_buffer(copy, "")
    reference = pyvips.Image.thumbnail_image(decoded, 200, height=150, size="force").numpy()
    out = render(copy, "jpg", parse("w=200&format=png"), original_size=(4800, 3600))
    got = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB"), dtype=float)
    assert (out.width, out.height) == (200, 150)
    assert np.abs(got - reference.astype(float)).mean() < 2
