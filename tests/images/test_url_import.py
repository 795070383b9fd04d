"""URL import over HTTP against real servers on 127.0.0.2 (allowed for tests by
IMGPRO_IMPORT_ALLOW_NETWORKS), and everything the importer must refuse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Stack
from tests.factories import images as make
from tests.images.test_upload_refusals import assert_refused, stored_count
from tests.local_http import QuietHandler, serving

PHOTO = make.jpeg(320, 240)


class Source(QuietHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {
        "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, PHOTO),
        "/page.html": (200, {"Content-Type": "text/html"}, make.html()),
        "/missing.jpg": (404, {}, b"not here"),
        "/to-loopback": (302, {"Location": "http://127.0.0.1:9/secret.jpg"}, b""),
        "/to-photo": (302, {"Location": "/photo.jpg"}, b""),
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    with serving(Source, "127.0.0.2") as url:
        yield url


def test_import_stores_the_image_with_its_filename(stack: Stack, source: str) -> None:
    client = stack.client(stack.key())
    response = client.post("/v1/images", json={"url": f"{source}/to-photo", "caption": "c"})
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["width"], image["height"], image["format"]) == (320, 240, "jpg")
    assert image["filename"] == "photo.jpg" and image["caption"] == "c"
    assert client.get(image["url"]).status_code == 200


def test_import_works_anonymously(stack: Stack, source: str) -> None:
    response = stack.client().post("/v1/images", json={"url": f"{source}/photo.jpg"})
    assert response.status_code == 201
    assert response.json()["expires_at"] is not None


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("/page.html", 422, "validation_error"),
        ("/missing.jpg", 502, "fetch_failed"),
        ("/to-loopback", 422, "validation_error"),
    ],
)
def test_import_refusals(stack: Stack, source: str, path: str, status: int, code: str) -> None:
    client = stack.client(stack.key())
    error = assert_refused(client.post("/v1/images", json={"url": source + path}), status, code)
    if code == "fetch_failed":
        assert error["type"] == "processing_error"
    else:
        assert "url" in error["details"]
    assert stored_count(client) == 0
