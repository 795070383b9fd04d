"""Every bad upload gets a clear 4xx envelope and stores nothing."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import Stack
from tests.factories import images as make


def stored_count(client: httpx.Client) -> int:
    return int(client.get("/v1/usage").json()["totals"]["images_stored"])


def assert_refused(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert field in error["details"], error
    return error


BAD_FILES = {
    "empty file": ("a.jpg", b"", "image/jpeg"),
    "text named .jpg": ("a.jpg", make.text_as_jpg(), "image/jpeg"),
    "truncated jpeg": ("a.jpg", make.truncated_jpeg(), "image/jpeg"),
    "decompression bomb": ("bomb.png", make.png_bomb(20000, 20000), "image/png"),
    "html named .png": ("page.png", make.html(), "image/png"),
    "tiff": ("a.tiff", make.tiff(), "image/tiff"),
    "pdf": ("a.pdf", make.pdf(), "application/pdf"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_refused_and_nothing_is_stored(stack: Stack, name: str) -> None:
    client = stack.client(stack.key())
    response = client.post("/v1/images", files={"file": BAD_FILES[name]})
    assert_refused(response, 422, "validation_error", "file")
    assert stored_count(client) == 0


def test_an_svg_over_10_mb_is_refused(stack: Stack) -> None:
    client = stack.client(stack.key())
    padding = b"<!--" + b"x" * (10 * 1024 * 1024) + b"-->"
    big_svg = make.svg().replace(b"</svg>", padding + b"</svg>")
    response = client.post("/v1/images", files={"file": ("big.svg", big_svg, "image/svg+xml")})
    error = assert_refused(response, 422, "validation_error", "file")
    assert "10 MB" in str(error["details"]["file"])
    assert stored_count(client) == 0


def test_a_71_mb_upload_is_refused_while_streaming(stack: Stack) -> None:
    client = stack.client(stack.key())
    sent = 0

    def body():  # chunked: no Content-Length, so the server must count as it reads
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        chunk = b"\xff" * (1024 * 1024)
        for _ in range(71):
            sent += len(chunk)
            yield chunk
        yield b"\r\n--b--\r\n"

    try:
        response = client.post(
            "/v1/images",
            content=body(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    except httpx.HTTPError:
        pytest.fail("the server should answer with an envelope, not drop the connection")
    assert_refused(response, 422, "validation_error", "file")
    assert stored_count(client) == 0


def test_a_declared_oversize_body_is_refused_before_it_is_read(stack: Stack) -> None:
    host, port = stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/images HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {80 * 1024 * 1024}\r\n\r\n".encode()
            + b"x" * 1024
        )
        answer = b""
        while b'"code"' not in answer and (chunk := conn.recv(65536)):
            answer += chunk
    text = answer.decode("latin-1")
    assert text.startswith("HTTP/1.1 422"), text
    assert '"code":"validation_error"' in text


def test_anonymous_uploads_are_capped_at_20_mb(stack: Stack) -> None:
    client = stack.client()
    big = make.jpeg(64, 48) + b"\0" * (21 * 1024 * 1024)
    response = client.post("/v1/images", files={"file": ("big.jpg", big, "image/jpeg")})
    assert_refused(response, 422, "validation_error", "file")


def test_no_file_and_no_url(stack: Stack) -> None:
    client = stack.client(stack.key())
    assert_refused(client.post("/v1/images", json={}), 422, "validation_error", "url")
    assert_refused(
        client.post("/v1/images", data={"caption": "x"}, files={"other": ("a", b"a")}),
        422,
        "validation_error",
    )
    assert_refused(client.post("/v1/images", content=b"raw"), 422, "validation_error", "file")
    assert stored_count(client) == 0


def test_both_a_file_and_a_url(stack: Stack) -> None:
    client = stack.client(stack.key())
    response = client.post(
        "/v1/images",
        data={"url": "https://example.com/a.jpg"},
        files={"file": ("a.jpg", make.jpeg(), "image/jpeg")},
    )
    assert_refused(response, 422, "validation_error", "url")
    response = client.post("/v1/images", json={"url": "https://example.com/a.jpg", "file": "x"})
    assert_refused(response, 422, "validation_error", "file")
    assert stored_count(client) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": 5}, "url"),
        ({"url": ["https://a.example/x.jpg"]}, "url"),
        ({"url": "https://a.example/x.jpg", "labels": "nope"}, "labels"),
        ({"url": "https://a.example/x.jpg", "labels": {"k": 1}}, "labels"),
        ({"url": "https://a.example/x.jpg", "metadata": [1]}, "metadata"),
        ({"url": "https://a.example/x.jpg", "caption": 7}, "caption"),
        ({"url": "https://a.example/x.jpg", "public": "maybe"}, "public"),
        ({"url": "https://a.example/x.jpg", "colour": "red"}, "colour"),
    ],
)
def test_wrong_json_types_are_named(stack: Stack, body: dict, field: str) -> None:
    client = stack.client(stack.key())
    assert_refused(client.post("/v1/images", json=body), 422, "validation_error", field)


def test_malformed_json_is_an_envelope(stack: Stack) -> None:
    client = stack.client(stack.key())
    response = client.post(
        "/v1/images", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 422, "validation_error", "body")


BLOCKED_URLS = [
    "http://127.0.0.1/a.jpg",
    "http://0.0.0.0/a.jpg",
    "http://10.0.0.1/a.jpg",
    "http://100.64.0.1/a.jpg",
    "http://[::1]/a.jpg",
    "http://[::ffff:127.0.0.1]/a.jpg",
    "http://2130706433/a.jpg",
    "http://0x7f000001/a.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost/a.jpg",
    "ftp://example.com/a.jpg",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_url_import_refuses_private_addresses(stack: Stack, url: str) -> None:
    client = stack.client(stack.key())
    assert_refused(client.post("/v1/images", json={"url": url}), 422, "validation_error", "url")
    assert stored_count(client) == 0


def test_read_only_key_gets_forbidden_before_validation(stack: Stack) -> None:
    client = stack.client(stack.key(abilities="read"))
    assert_refused(client.post("/v1/images", json={}), 403, "forbidden")
    response = client.post("/v1/images", files={"file": ("a.jpg", make.jpeg(), "image/jpeg")})
    assert_refused(response, 403, "forbidden")
    assert stored_count(client) == 0


def test_write_only_key_cannot_read(stack: Stack) -> None:
    client = stack.client(stack.key(abilities="write"))
    assert_refused(client.get("/v1/images"), 403, "forbidden")
    assert_refused(client.get("/v1/usage"), 403, "forbidden")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer img_live_unknownunknownunknownunknown12", "Bearer nonsense", "Basic abc", "Bearer"],
)
def test_an_unknown_credential_is_unauthorized(stack: Stack, authorization: str) -> None:
    client = stack.client(Authorization=authorization)
    assert_refused(client.post("/v1/images", json={}), 401, "unauthorized")
    assert_refused(client.get("/v1/images"), 401, "unauthorized")


def test_anonymous_callers_can_only_create(stack: Stack) -> None:
    client = stack.client()
    assert_refused(client.get("/v1/images"), 401, "unauthorized")
    assert_refused(client.get("/v1/usage"), 401, "unauthorized")
    assert_refused(client.delete("/v1/images/abcdefgh"), 401, "unauthorized")
