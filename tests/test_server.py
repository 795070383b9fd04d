"""`imgpro serve` against clients that abuse the connection itself, over raw sockets: huge
header sections are refused with 431 before they cost memory, and connections that never finish
their headers are closed."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cdn.conftest import assert_image, upload
from tests.conftest import Stack, children_of, served
from tests.factories import images as make

HEADER_TIMEOUT = 1.0
SLACK = 8.0  # the socket timeout: far beyond the server's deadline, so only a hang fails


def connect(server: Stack) -> socket.socket:
    port = int(server.base_url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=SLACK)


def rss_bytes(server: Stack) -> int:
    status = Path(f"/proc/{server.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`imgpro serve` (one process: the pid is the server's), with a short header timeout."""
    with served(
        tmp_path_factory.mktemp("served"), workers=1, header_timeout=HEADER_TIMEOUT
    ) as running:
        yield running


def request_head(extra: bytes = b"") -> bytes:
    return b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a socket timeout means it never did."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_a_100_kb_header_is_refused_with_431_and_the_envelope(server: Stack) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(b"X-Big: " + b"a" * 100 * 1024 + b"\r\n\r\n"))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code": "headers_too_large"' in answer


def test_headers_within_the_limit_and_a_large_body_are_served(server: Stack) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/openapi.json", headers={"X-Fine": "a" * 60 * 1024}).is_success
        # small headers and a body sent in the same packets: the body is not counted as headers
        response = client.post(
            "/v1/images",
            content=b'{"url": "http://127.0.0.1/x.jpg", "caption": "' + b"c" * 500_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_unfinished_headers_do_not_grow_the_server(server: Stack) -> None:
    before = rss_bytes(server)
    sockets = [connect(server) for _ in range(10)]
    try:
        for sock in sockets:
            sock.sendall(request_head(b"X-Endless: "))
            try:
                for _ in range(64):  # 4 MB each, never finishing the line
                    sock.sendall(b"a" * 64 * 1024)
            except OSError:
                pass  # the server refused and closed: what we want
        grown = rss_bytes(server) - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 16 * 1024 * 1024, f"server grew by {grown // 1024} KB"


def test_half_a_header_is_closed_after_the_header_timeout(server: Stack) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(b"X-Half: started"))
        assert read_until_closed(sock) == b""


def test_a_silent_connection_is_closed(server: Stack) -> None:
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_that_stalls_in_its_next_request_is_closed(
    server: Stack,
) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(b"\r\n"))
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(request_head(b"X-Half: started"))
        read_until_closed(sock)  # closed, not held (a timeout here fails the test)


def test_after_an_upload_and_a_render_the_server_has_only_render_processes(server: Stack) -> None:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        image = upload(client, make.jpeg(120, 90))
        assert_image(client.get(image["url"] + "?w=40"), "image/jpeg")
    children = children_of(server.pid or 0)
    # no multiprocessing resource tracker, nothing else: one process per render slot at most
    assert children and len(children) <= (os.cpu_count() or 1), children
    assert all("imgpro.cdn.render_process" in command for command in children.values()), children
