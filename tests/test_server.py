"""`imgpro serve` against clients that abuse the connection itself, over raw sockets: huge
header sections are refused with 431 before they cost memory, and connections that never finish
their headers are closed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

HEADER_TIMEOUT = 1.0
SLACK = 8.0  # the socket timeout: far beyond the server's deadline, so only a hang fails


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=SLACK)
        return sock

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("IMGPRO_")}
    env.update(
        IMGPRO_ENV="test",
        IMGPRO_DATA_DIR=str(tmp_path_factory.mktemp("served")),
        IMGPRO_SECRET_KEY="test-secret-served",
        IMGPRO_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
    )
    imgpro = Path(sys.executable).parent / "imgpro"
    process = subprocess.Popen(
        [str(imgpro), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("imgpro serve did not start") from None
                time.sleep(0.1)
        yield Served(process, port)
    finally:
        process.terminate()
        process.wait(10)


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


def test_a_100_kb_header_is_refused_with_431_and_the_envelope(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(request_head(b"X-Big: " + b"a" * 100 * 1024 + b"\r\n\r\n"))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code": "headers_too_large"' in answer


def test_headers_within_the_limit_and_a_large_body_are_served(served: Served) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}") as client:
        assert client.get("/openapi.json", headers={"X-Fine": "a" * 60 * 1024}).is_success
        # small headers and a body sent in the same packets: the body is not counted as headers
        response = client.post(
            "/v1/images",
            content=b'{"url": "http://127.0.0.1/x.jpg", "caption": "' + b"c" * 500_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_unfinished_headers_do_not_grow_the_server(served: Served) -> None:
    before = served.rss_bytes()
    sockets = [served.connect() for _ in range(10)]
    try:
        for sock in sockets:
            sock.sendall(request_head(b"X-Endless: "))
            try:
                for _ in range(64):  # 4 MB each, never finishing the line
                    sock.sendall(b"a" * 64 * 1024)
            except OSError:
                pass  # the server refused and closed: what we want
        grown = served.rss_bytes() - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 16 * 1024 * 1024, f"server grew by {grown // 1024} KB"


def test_half_a_header_is_closed_after_the_header_timeout(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(request_head(b"X-Half: started"))
        assert read_until_closed(sock) == b""


def test_a_silent_connection_is_closed(served: Served) -> None:
    with served.connect() as sock:
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_that_stalls_in_its_next_request_is_closed(
    served: Served,
) -> None:
    with served.connect() as sock:
        sock.sendall(request_head(b"\r\n"))
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(request_head(b"X-Half: started"))
        read_until_closed(sock)  # closed, not held (a timeout here fails the test)
