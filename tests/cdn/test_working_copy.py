"""Working copies of large originals: none at upload (but a HEIC's, from the pixels ingest decoded),
made by the first variant that would render from one, then used for every variant that needs no
more pixels than they have (same geometry, near-identical pixels), skipped for bigger ones,
deleted with the image; JPEG unless the original is PNG or has alpha; sidecars written before
copies (or their own formats) existed still serve."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgpro.cdn import service as cdn
from imgpro.cdn.layout import OriginalMeta
from imgpro.cdn.pool import RenderProcess
from imgpro.media import render as renderer
from imgpro.media import working_copy
from imgpro.media.geometry import fits_working_copy
from imgpro.media.transform import parse
from tests.cdn.conftest import assert_image, upload
from tests.conftest import Stack
from tests.factories import images as make

LARGE = (3600, 2400)  # over working_copy.ABOVE: gets a 2560×1707 copy


def image_folder(stack: Stack, image_url: str) -> Path:
    shard, name = image_url.rsplit("/", 2)[1:]
    return stack.settings.data_dir / "blobs" / shard / name.split(".")[0]


def pixels(data: bytes) -> np.ndarray:
    return pyvips.Image.new_from_buffer(data, "").numpy().astype(np.float64)


def copy_made(stack: Stack, image: dict) -> OriginalMeta:
    """The sidecar once the working copy the image's first fitting variant started is stored
    (made in the background: waited for, at most a minute on a busy machine)."""
    meta_file = image_folder(stack, image["url"]) / "meta.json"
    deadline = time.monotonic() + 60
    while (meta := OriginalMeta.loads(meta_file.read_bytes())).working_size is None:
        assert time.monotonic() < deadline, "no working copy was made"
        time.sleep(0.05)
    return meta


@pytest.fixture(scope="module")
def large(stack: Stack) -> dict:
    image = upload(stack.client(stack.key()), make.jpeg(*LARGE, quality=90))
    assert stack.client().get(image["url"] + "?w=500").status_code == 200
    copy_made(stack, image)
    return image


class RecordedRenders:
    """Wraps the hand-over to a render process: remembers the `original_size` of each render
    (None = from the original)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.original_sizes: list[tuple[int, int] | None] = []
        real = RenderProcess.call

        async def recorded(process, work, args, kwargs, *rest):  # type: ignore[no-untyped-def]
            self.original_sizes.append(kwargs.get("original_size"))
            return await real(process, work, args, kwargs, *rest)

        monkeypatch.setattr(RenderProcess, "call", recorded)


def test_the_first_fitting_variant_of_a_large_upload_makes_its_working_copy(
    stack: Stack, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = upload(client, make.jpeg(*LARGE, quality=90))
    folder = image_folder(stack, image["url"])
    assert not list(folder.glob("work.*"))  # the upload paid for none
    renders = RecordedRenders(monkeypatch)
    assert_image(client.get(image["url"] + "?w=3000&format=png"), "image/png")  # bigger: none
    assert_image(client.get(image["url"] + "?w=640&format=webp"), "image/webp")
    meta = copy_made(stack, image)
    assert renders.original_sizes[:2] == [None, None]  # both from the original
    assert len(renders.original_sizes) == 3  # and then the copy, once
    assert_image(client.get(image["url"] + "?w=641&format=webp"), "image/webp")
    assert renders.original_sizes[3] == LARGE  # from the copy
    assert (meta.width, meta.height) == LARGE
    assert meta.working_size == (working_copy.SIDE, round(LARGE[1] * working_copy.SIDE / LARGE[0]))
    copy = pyvips.Image.new_from_file(str(folder / "work.jpg"))
    assert (copy.width, copy.height) == meta.working_size
    assert copy.get("vips-loader") == "jpegload"


def test_a_large_heic_gets_its_working_copy_at_upload(
    stack: Stack, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest holds the HEIC's decoded pixels: the copy costs their resize and encode, where a
    lazy copy would decode the JPEG it became once more. Its first variant renders from it."""
    size = (3300, 1200)
    image = upload(client, make.heic(*size), "photo.heic")
    folder = image_folder(stack, image["url"])
    meta = OriginalMeta.loads((folder / "meta.json").read_bytes())
    assert meta.working_size == working_copy.size(*size) == (2560, 931)
    copy = (folder / "work.jpg").read_bytes()
    renders = RecordedRenders(monkeypatch)
    assert_image(client.get(image["url"] + "?w=640&format=webp"), "image/webp")
    assert renders.original_sizes == [size]  # from the copy; no copy made now
    # the pixels a lazy copy of the stored JPEG would have, but for the JPEG's own loss
    lazy = renderer.make_working_copy((folder / "original.jpg").read_bytes(), "jpg")
    assert np.abs(pixels(copy) - pixels(lazy.data)).mean() < 2


def test_a_small_upload_gets_none(stack: Stack, client: httpx.Client) -> None:
    image = upload(client, make.jpeg(2300, 1500))  # the upload bench's size: one blob only
    folder = image_folder(stack, image["url"])
    assert not list(folder.glob("work.*"))
    assert OriginalMeta.loads((folder / "meta.json").read_bytes()).working_size is None


variant_queries = st.builds(
    lambda w, h, fit, gravity, rotate, fmt: (
        f"w={w}&h={h}&fit={fit}&gravity={gravity}&rotate={rotate}&format={fmt}"
    ),
    st.integers(1, 2400),
    st.integers(1, 2400),
    st.sampled_from(["scale-down", "contain", "cover", "crop", "pad"]),
    st.sampled_from(["center", "north", "southeast", "west"]),
    st.sampled_from([0, 90, 180, 270]),
    st.sampled_from(["jpg", "png", "webp"]),
) | st.sampled_from(["size=s", "size=m", "size=l", "size=social", "w=640&dpr=3", "h=900"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=variant_queries)
def test_variants_from_the_copy_match_the_original(stack: Stack, large: dict, query: str) -> None:
    folder = image_folder(stack, large["url"])
    original = (folder / "original.jpg").read_bytes()
    copy = (folder / "work.jpg").read_bytes()
    meta = OriginalMeta.loads((folder / "meta.json").read_bytes())
    spec = parse(query)
    assert meta.working_size is not None
    if not fits_working_copy(LARGE, meta.working_size, spec):
        return  # bigger than the copy: covered below
    from_original = renderer.render(original, "jpg", spec)
    from_copy = renderer.render(copy, "jpg", spec, original_size=LARGE)
    assert (from_copy.width, from_copy.height) == (from_original.width, from_original.height)
    # below ~64 px a side one resampled pixel and one JPEG block dominate the mean (measured:
    # up to 3.9 at 9–33 px, at most 2.3 from 50 px up), so only larger outputs are compared
    if min(from_copy.width, from_copy.height) >= 64:
        difference = np.abs(pixels(from_copy.data) - pixels(from_original.data))
        assert difference.mean() < 2.5, query  # of 255: resampling and re-encoding, no shift


def test_the_cdn_renders_small_variants_from_the_copy(
    stack: Stack, large: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = RecordedRenders(monkeypatch)
    response = stack.client().get(large["url"] + "?w=640&h=400&fit=cover&format=webp")
    assert_image(response, "image/webp")
    assert renders.original_sizes == [LARGE]
    served = pyvips.Image.new_from_buffer(response.content, "")
    assert (served.width, served.height) == (640, 400)


def test_a_variant_bigger_than_the_copy_renders_from_the_original(
    stack: Stack, large: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = RecordedRenders(monkeypatch)
    client = stack.client()
    for query in ("w=3000", "w=1400&dpr=2", "w=3600&h=100&fit=crop", "w=5000&h=4000&fit=cover"):
        response = client.get(f"{large['url']}?{query}&format=png")
        assert_image(response, "image/png")
    assert renders.original_sizes == [None] * 4
    again = client.get(large["url"] + "?w=3000&format=png")
    served = pyvips.Image.new_from_buffer(again.content, "")
    assert (served.width, served.height) == (3000, 2000)


def test_deleting_the_image_removes_the_copy(stack: Stack, client: httpx.Client) -> None:
    image = upload(client, make.jpeg(*LARGE))
    folder = image_folder(stack, image["url"])
    assert client.get(image["url"] + "?w=300").status_code == 200
    copy_made(stack, image)
    assert (folder / "work.jpg").exists()
    assert client.delete(f"/v1/images/{image['id']}").status_code == 200
    assert not folder.exists() or not list(folder.rglob("*"))
    assert client.get(image["url"] + "?w=301").status_code == 404


def test_an_old_sidecar_without_a_copy_still_serves(
    stack: Stack, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = upload(client, make.jpeg(*LARGE))
    folder = image_folder(stack, image["url"])
    old = json.loads((folder / "meta.json").read_bytes())
    del old["work_width"], old["work_height"]
    (folder / "meta.json").write_bytes(json.dumps(old).encode())
    shard, name = image["url"].rsplit("/", 2)[1:]
    cdn.META_CACHE.forget(shard, name.split(".")[0])
    renders = RecordedRenders(monkeypatch)
    response = client.get(image["url"] + "?w=320&format=webp")
    assert_image(response, "image/webp")
    assert pyvips.Image.new_from_buffer(response.content, "").width == 320
    assert renders.original_sizes[0] is None
    assert copy_made(stack, image).working_size is not None  # and it gets its copy now


@pytest.fixture(scope="module")
def large_webp(stack: Stack) -> dict:
    """An opaque WebP photo over the copy threshold, its (JPEG) working copy made."""
    image = upload(stack.client(stack.key()), make.webp(*LARGE))
    assert stack.client().get(image["url"] + "?w=500").status_code == 200
    copy_made(stack, image)
    return image


def test_an_opaque_webp_gets_a_jpeg_copy_and_still_answers_webp(
    stack: Stack, large_webp: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = image_folder(stack, large_webp["url"])
    meta = OriginalMeta.loads((folder / "meta.json").read_bytes())
    assert (meta.format, meta.work_format, meta.working_format) == ("webp", "jpg", "jpg")
    assert sorted(path.name for path in folder.glob("work.*")) == ["work.jpg"]
    copy = pyvips.Image.new_from_file(str(folder / "work.jpg"))
    assert copy.get("vips-loader") == "jpegload"
    assert (copy.width, copy.height) == meta.working_size
    renders = RecordedRenders(monkeypatch)
    response = stack.client().get(large_webp["url"] + "?w=700")  # no format: the original's
    assert_image(response, "image/webp")
    assert renders.original_sizes == [LARGE]
    assert pyvips.Image.new_from_buffer(response.content, "").width == 700


@pytest.mark.parametrize(
    "query", ["w=320", "w=640&format=png", "w=1280&h=400&fit=cover", "w=900&rotate=90", "size=m"]
)
def test_variants_from_a_jpeg_copy_of_a_webp_match_the_original(
    stack: Stack, large_webp: dict, query: str
) -> None:
    folder = image_folder(stack, large_webp["url"])
    original = (folder / "original.webp").read_bytes()
    copy = (folder / "work.jpg").read_bytes()
    spec = parse(query + "&format=png")  # lossless: the difference is the copy's, not an encoder's
    from_original = renderer.render(original, "webp", spec)
    from_copy = renderer.render(copy, "webp", spec, original_size=LARGE)
    assert (from_copy.width, from_copy.height) == (from_original.width, from_original.height)
    difference = np.abs(pixels(from_copy.data) - pixels(from_original.data))
    assert difference.mean() < 2.5, query


def test_a_webp_with_alpha_keeps_a_webp_copy(stack: Stack, client: httpx.Client) -> None:
    image = upload(client, make.webp(*LARGE, alpha=True))
    assert_image(client.get(image["url"] + "?w=640"), "image/webp")
    meta = copy_made(stack, image)
    folder = image_folder(stack, image["url"])
    assert meta.working_format == "webp"
    assert sorted(path.name for path in folder.glob("work.*")) == ["work.webp"]
    assert pyvips.Image.new_from_file(str(folder / "work.webp")).hasalpha()


def test_a_copy_named_before_copies_had_a_format_of_their_own_is_still_used(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sidecar without `work_format` names a copy in the original's format (`work.webp`)."""
    image = upload(stack.client(stack.key()), make.webp(*LARGE))
    assert stack.client().get(image["url"] + "?w=500").status_code == 200
    copy_made(stack, image)
    folder = image_folder(stack, image["url"])
    jpeg_copy = folder / "work.jpg"
    pyvips.Image.new_from_file(str(jpeg_copy)).write_to_file(str(folder / "work.webp"), Q=92)
    jpeg_copy.unlink()
    old = json.loads((folder / "meta.json").read_bytes())
    del old["work_format"]
    (folder / "meta.json").write_bytes(json.dumps(old).encode())
    shard, name = image["url"].rsplit("/", 2)[1:]
    cdn.META_CACHE.forget(shard, name.split(".")[0])
    renders = RecordedRenders(monkeypatch)
    response = stack.client().get(image["url"] + "?w=333")
    assert_image(response, "image/webp")
    assert renders.original_sizes == [LARGE]  # from the old copy, found under its old name
    assert pyvips.Image.new_from_buffer(response.content, "").width == 333


def test_sidecars_load_without_and_with_unknown_fields() -> None:
    old = {"format": "jpg", "content_type": "image/jpeg", "etag": "e", "bytes": 1, "width": 4,
           "height": 3, "frames": 1, "transformable": True, "expires_at": None}  # fmt: skip
    assert OriginalMeta.loads(json.dumps(old).encode()).working_size is None
    newer = {**old, "work_width": 2, "work_height": 1, "something_later": [1]}
    assert OriginalMeta.loads(json.dumps(newer).encode()).working_size == (2, 1)
    assert OriginalMeta.loads(json.dumps(newer).encode()).working_format == "jpg"
    own = {**newer, "format": "webp", "work_format": "jpg"}
    assert OriginalMeta.loads(json.dumps(own).encode()).working_format == "jpg"
    assert OriginalMeta.loads(json.dumps({**own, "work_format": None}).encode()).working_format == (
        "webp"
    )


@pytest.mark.parametrize(
    ("fmt", "alpha", "copy_fmt"),
    [
        ("png", False, "png"),
        ("png", True, "png"),
        ("webp", True, "webp"),
        ("webp", False, "jpg"),
        ("avif", False, "jpg"),
    ],
)
def test_copies_are_jpeg_unless_png_or_with_alpha(
    tmp_path: Path, fmt: str, alpha: bool, copy_fmt: str
) -> None:
    source = pyvips.Image.new_from_buffer(make.jpeg(3300, 1200), "")
    if alpha:
        source = source.bandjoin(200)
    path = tmp_path / f"original.{fmt}"
    source.write_to_file(str(path), **({"effort": 0} if fmt == "avif" else {}))  # a quick encode
    made = renderer.make_working_copy(path, fmt)
    assert (made.width, made.height) == (2560, 931)
    assert made.format == copy_fmt
    loaded = pyvips.Image.new_from_buffer(made.data, "")
    assert loaded.get("vips-loader").startswith(f"{'jpeg' if copy_fmt == 'jpg' else fmt}load")
    assert loaded.hasalpha() == alpha
    assert working_copy.wanted(fmt, 3300, 1200, 1)
    assert not working_copy.wanted(fmt, 3300, 1200, 5)  # animated
    assert not working_copy.wanted("gif", 3300, 1200, 1)


def test_a_jpeg_twice_the_copys_size_is_decoded_at_a_reduced_dct_scale() -> None:
    """A 5200 px JPEG's copy is decoded at half scale (2600 px, still more than the copy's
    2560), as a variant of it would be, not whole as libvips' thumbnail decodes it: the copy is
    exactly what that decode makes, resized and encoded."""
    original = make.jpeg(5200, 1400, quality=90)
    made = renderer.make_working_copy(original, "jpg")
    assert (made.width, made.height) == working_copy.size(5200, 1400) == (2560, 689)
    halved = pyvips.Image.jpegload_buffer(original, shrink=2)
    expected = pyvips.Image.thumbnail_image(halved, 2560, height=689, size="force")
    keep = pyvips.enums.ForeignKeep.NONE
    assert made.data == expected.jpegsave_buffer(Q=92, subsample_mode="on", keep=keep)


def test_a_copy_is_never_larger_than_its_original() -> None:
    assert working_copy.size(3300, 1200) == (2560, 931)
    assert working_copy.size(2000, 900) == (2000, 900)


#: The standard (ITU T.81 Annex K) luminance DC table as a DHT segment carries it: the counts of
#: codes of each length 1..16, then the 12 symbols
_STANDARD_DC_TABLE = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) + bytes(range(12))


def test_a_jpeg_copy_keeps_the_standard_huffman_tables() -> None:
    """Optimised tables tripled the copy's encode (a third of its CPU) to save a few % of a file
    no one downloads; the variants made from it keep theirs."""
    original = make.jpeg(*LARGE, quality=90)
    made = renderer.make_working_copy(original, "jpg")
    assert _STANDARD_DC_TABLE in made.data
    variant = renderer.render(made.data, "jpg", parse("w=500&format=jpg"), original_size=LARGE)
    assert _STANDARD_DC_TABLE not in variant.data


def test_a_png_copy_is_deflated_at_the_fastest_level() -> None:
    """zlib level 1 halved the copy's encode and speeds the decode of every variant from it;
    the zlib header of its first IDAT chunk says which level wrote it (FLEVEL 0: fastest)."""
    original = pyvips.Image.new_from_buffer(make.jpeg(*LARGE), "").pngsave_buffer()
    made = renderer.make_working_copy(original, "png")
    idat = made.data.index(b"IDAT") + 4
    flags = made.data[idat + 1]
    assert flags >> 6 == 0
    assert pixels(made.data).shape == (1707, 2560, 3)
