"""Upload, get, list, update and delete over HTTP, with an API key."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import images as make

IMAGE_FIELDS = {
    "id",
    "object",
    "url",
    "page_url",
    "sizes",
    "filename",
    "format",
    "width",
    "height",
    "bytes",
    "transformable",
    "status",
    "public",
    "published_at",
    "expires_at",
    "created_at",
    "caption",
    "metadata",
    "labels",
    "nsfw",
    "placeholder",
}


def test_upload_returns_every_field_and_the_cdn_serves_it(stack: Stack) -> None:
    client = stack.client(stack.key())
    response = client.post(
        "/v1/images",
        files={"file": ("harbour.jpg", make.jpeg(400, 300), "image/jpeg")},
        data={"caption": "Boats", "labels": '{"site": "a"}', "metadata": '{"k": "v"}'},
    )
    assert response.status_code == 201, response.text
    image = response.json()
    assert set(image) == IMAGE_FIELDS
    assert image["format"] == "jpg" and (image["width"], image["height"]) == (400, 300)
    assert image["filename"] == "harbour.jpg"
    assert image["caption"] == "Boats" and image["labels"] == {"site": "a"}
    assert image["expires_at"] is None and image["status"] == "ready"
    assert image["sizes"]["small"]["url"] == image["url"] + "?size=s"

    served = client.get(image["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.content[:2] == b"\xff\xd8"
    etag = served.headers["etag"]
    assert client.get(image["url"], headers={"If-None-Match": etag}).status_code == 304

    assert client.get(f"/v1/images/{image['id']}").json() == image
    viewer = client.get(image["page_url"])
    assert viewer.status_code == 200 and image["url"] in viewer.text


def test_delete_makes_the_cdn_answer_404(stack: Stack) -> None:
    client = stack.client(stack.key())
    image = client.post("/v1/images", files={"file": ("a.png", make.png(50, 40))}).json()
    assert client.get(image["url"]).status_code == 200
    response = client.delete(f"/v1/images/{image['id']}")
    assert response.json() == {"id": image["id"], "object": "image", "deleted": True}
    assert client.get(image["url"]).status_code == 404
    assert client.get(f"/v1/images/{image['id']}").json()["error"]["code"] == "not_found"
