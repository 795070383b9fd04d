"""Properties of served variants over HTTP, for generated transforms: the box is honoured, the
bytes are the format the Content-Type names, and no metadata survives."""

from __future__ import annotations

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cdn.conftest import MAGIC, upload
from tests.conftest import Stack
from tests.factories import images as make

SOURCE = (300, 200)
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "avif": "image/avif", "gif": "image/gif"}  # fmt: skip


@pytest.fixture(scope="module")
def photo_url(stack: Stack) -> str:
    return upload(stack.client(stack.key()), make.jpeg(*SOURCE, exif=True))["url"]


transforms = st.fixed_dictionaries(
    {
        "w": st.integers(1, 500),
        "h": st.integers(1, 500),
        "fit": st.sampled_from(["scale-down", "contain", "cover", "crop", "pad"]),
        "format": st.sampled_from(sorted(CONTENT_TYPES)),
        "rotate": st.sampled_from([0, 90, 180, 270]),
    }
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transform=transforms)
def test_served_variants_keep_their_promises(stack: Stack, photo_url: str, transform) -> None:
    response = stack.client().get(photo_url, params=transform)
    assert response.status_code == 200
    content_type = CONTENT_TYPES[transform["format"]]
    assert response.headers["content-type"] == content_type
    assert MAGIC[content_type](response.content)

    image = pyvips.Image.new_from_buffer(response.content, "")
    box = (transform["w"], transform["h"])
    source = SOURCE[::-1] if transform["rotate"] in (90, 270) else SOURCE
    if transform["fit"] in ("cover", "pad"):
        assert (image.width, image.height) == box
    elif transform["fit"] == "crop":
        assert (image.width, image.height) == (min(box[0], source[0]), min(box[1], source[1]))
    else:
        assert image.width <= box[0] and image.height <= box[1]
        assert image.width == box[0] or image.height == box[1] or transform["fit"] != "contain"
        if transform["fit"] == "scale-down":
            assert image.width <= source[0] and image.height <= source[1]
    for field in ("exif-data", "xmp-data", "iptc-data"):
        assert not image.get_typeof(field), field
    assert b"imgpro-test-camera" not in response.content
