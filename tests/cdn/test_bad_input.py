"""Hostile and broken input on the CDN: the image still loads, or a clear envelope comes back;
the server never crashes and keeps serving."""

from __future__ import annotations

import io
import socket
import threading

import httpx
import pytest
import pyvips
from PIL import Image

from imgpro.cdn import routes as cdn_routes
from imgpro.media.transform import MAX_SIDE
from tests.cdn.conftest import assert_image, plant, upload
from tests.conftest import Stack
from tests.factories import images as make
from tests.factories import sources

PARAMETERS = [
    "size", "w", "h", "fit", "gravity", "dpr", "q", "rotate", "flip", "cutout", "bg", "strip",
    "format", "brightness", "contrast", "gamma", "saturation", "blur", "sharp",
]  # fmt: skip
BAD_VALUES = ["garbage", "-5", "99999999999999999999", "", "1e309", "nan", "%00", "１２"]


@pytest.fixture(scope="module")
def photo_url(stack: Stack) -> str:
    return upload(stack.client(stack.key()), make.jpeg(64, 48))["url"]


@pytest.mark.parametrize("name", PARAMETERS)
def test_every_parameter_with_bad_values_still_serves_the_image(
    stack: Stack, photo_url: str, name: str
) -> None:
    client = stack.client()
    original = client.get(photo_url)
    for value in BAD_VALUES:
        response = client.get(photo_url, params={name: value})
        assert response.content == original.content, (name, value)
    # repeated with different values: ambiguous, dropped; repeated with the same value: kept
    assert client.get(f"{photo_url}?{name}=1&{name}=2&{name}=3").status_code == 200
    assert client.get(f"{photo_url}?{name}=&{name}=&{name}=").content == original.content


def test_huge_sizes_are_ignored_or_capped(stack: Stack, photo_url: str) -> None:
    client = stack.client()
    original = client.get(photo_url).content
    assert client.get(photo_url + "?w=100000").content == original
    assert client.get(photo_url + "?dpr=100").content == original
    assert client.get(photo_url + "?w=100000&dpr=100").content == original
    # JPEG: the cap is the point, and a 40 MP PNG encode (seconds of zlib) could run past the
    # render budget on a loaded machine
    big = client.get(photo_url + "?w=8192&h=8192&fit=cover&dpr=4&format=jpg")
    assert_image(big, "image/jpeg")
    image = pyvips.Image.new_from_buffer(big.content, "")
    assert image.width <= MAX_SIDE and image.width * image.height <= 40_000_000


def test_a_one_by_fifty_thousand_image(stack: Stack) -> None:
    client = stack.client(stack.key())
    tall = (pyvips.Image.black(1, 50_000) + 128).cast("uchar").pngsave_buffer()
    url = upload(client, tall, "tall.png")["url"]
    capped = client.get(url + "?format=webp")
    assert_image(capped, "image/webp")
    out = pyvips.Image.new_from_buffer(capped.content, "")
    assert (out.width, out.height) == (1, MAX_SIDE)
    cover = client.get(url + "?w=300&h=300&fit=cover&format=jpg")
    assert_image(cover, "image/jpeg")
    assert pyvips.Image.new_from_buffer(cover.content, "").width == 300


def test_an_animated_gif_with_5000_frames(stack: Stack) -> None:
    client = stack.client(stack.key())
    frames = [Image.new("RGB", (24, 24), (i % 256, 0, 255 - i % 256)) for i in range(5000)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=20)
    url = upload(client, buffer.getvalue(), "long.gif")["url"]
    animated = client.get(url + "?w=12&format=webp")
    assert_image(animated, "image/webp")
    assert pyvips.Image.new_from_buffer(animated.content, "n=-1").get("n-pages") > 1
    still = client.get(url + "?w=12&format=png")  # png is still: the first frame
    assert_image(still, "image/png")


class Recorder:
    """Stands in for the cdn routes' logger (structlog caches loggers per configuration, and
    every app built in this process reconfigures it, so `capture_logs` can miss lines)."""

    def __init__(self) -> None:
        self.lines: list[dict] = []

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append({"event": event, "log_level": "warning", **fields})


def test_refused_renders_are_a_422_envelope_and_a_log_line(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client()
    bomb = plant(stack, make.png_bomb(), "png", 64, 48)  # got past ingest somehow
    corrupt = plant(stack, sources.corrupt_jpeg(), "jpg", 64, 48)
    truncated = plant(stack, make.truncated_jpeg(), "jpg", 320, 240)
    log = Recorder()
    monkeypatch.setattr(cdn_routes, "log", log)
    answers = [client.get(url + "?w=100&format=webp") for url in (bomb, corrupt, truncated)]
    again = client.get(corrupt + "?w=100&format=webp")  # remembered: no second render
    for response in [*answers, again]:
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "media_failed"
    assert [line["event"] for line in log.lines] == ["render_refused"] * 4
    reasons = [line["reason"] for line in log.lines]
    assert reasons[:2] == ["image has too many pixels", "corrupt image"]
    assert log.lines[0]["original"].endswith("/original.png")
    assert client.get(corrupt).status_code == 200  # the stored bytes as they are
    healthy = upload(stack.client(stack.key()), make.jpeg(64, 48))["url"]
    assert_image(client.get(healthy + "?w=32&format=webp"), "image/webp")  # the worker lives


class Listener:
    """A TCP port that counts connections: anything the SVG makes us fetch shows up here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                self.sock.accept()[0].close()
                self.connections += 1
            except OSError:
                continue

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


def test_a_hostile_svg_is_sanitised_served_inert_and_fetches_nothing(stack: Stack) -> None:
    listener = Listener()
    outside = f"http://127.0.0.1:{listener.port}"
    hostile = f"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
        width="40" height="30" onload="alert(1)">
      <script>alert(document.cookie)</script>
      <image href="{outside}/pixel.png" width="10" height="10"/>
      <use xlink:href="{outside}/sprite.svg#icon"/>
      <style>@import url({outside}/x.css); rect {{ fill: url({outside}/p.svg#g) }}</style>
      <rect width="40" height="30" fill="#3366cc" onclick="alert(2)"/>
    </svg>""".encode()
    entities = f"""<?xml version="1.0"?>
    <!DOCTYPE svg [<!ENTITY lol "lol"><!ENTITY ext SYSTEM "{outside}/secret">]>
    <svg xmlns="http://www.w3.org/2000/svg"><text>&lol;&ext;</text></svg>""".encode()
    client = stack.client(stack.key())
    try:
        image = upload(client, hostile, "hostile.svg")
        assert image["transformable"] is False
        for query in ("", "?w=10&format=png", "?cutout=1"):  # parameters are ignored
            served = client.get(image["url"] + query)
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/svg+xml"
            csp = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
            assert served.headers["content-security-policy"] == csp
            assert served.headers["x-content-type-options"] == "nosniff"
            for gone in (b"script", b"alert", b"onload", b"onclick", b"127.0.0.1"):
                assert gone not in served.content
            assert b"<rect" in served.content
        refused = client.post("/v1/images", files={"file": ("e.svg", entities)})
        assert refused.status_code == 422
    finally:
        listener.close()
    assert listener.connections == 0


def test_unknown_images_and_bad_paths_are_404_envelopes(stack: Stack, photo_url: str) -> None:
    client = stack.client()
    base = stack.settings.cdn_url
    for path in ("/zzz/zzzzzzzz.jpg?w=10", "/abc/..%2F..%2Fetc%2Fpasswd", "/a/b.jpg", "/abc/x"):
        response = client.get(base + path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    wrong_extension = photo_url.rsplit(".", 1)[0] + ".png?w=10"
    assert client.get(wrong_extension).status_code == 404


def test_methods_other_than_get_and_head(stack: Stack, photo_url: str) -> None:
    response = httpx.post(photo_url + "?w=10")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
